// Small helpers for byte buffers shared by the codecs: hex text and big/little-endian integers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tnet {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

// Lowercase hex, as Go's encoding/hex.
std::string hexEncode(ByteSpan data);
// Accepts upper or lower case; nullopt on odd length or a non-hex character.
std::optional<Bytes> hexDecode(std::string_view text);

inline void putU16BE(uint8_t* p, uint16_t v) { p[0] = uint8_t(v >> 8); p[1] = uint8_t(v); }
inline void putU32BE(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24); p[1] = uint8_t(v >> 16); p[2] = uint8_t(v >> 8); p[3] = uint8_t(v);
}
inline void putU64BE(uint8_t* p, uint64_t v) {
  putU32BE(p, uint32_t(v >> 32)); putU32BE(p + 4, uint32_t(v));
}
inline void putU32LE(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); p[2] = uint8_t(v >> 16); p[3] = uint8_t(v >> 24);
}
inline void putU64LE(uint8_t* p, uint64_t v) {
  putU32LE(p, uint32_t(v)); putU32LE(p + 4, uint32_t(v >> 32));
}
inline uint16_t getU16BE(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t getU32BE(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline uint64_t getU64BE(const uint8_t* p) { return (uint64_t(getU32BE(p)) << 32) | getU32BE(p + 4); }
inline uint32_t getU32LE(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
inline uint64_t getU64LE(const uint8_t* p) { return uint64_t(getU32LE(p)) | (uint64_t(getU32LE(p + 4)) << 32); }

}  // namespace tnet
