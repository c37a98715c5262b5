// WireGuard's four message layouts (whitepaper §5.4; wireguard-go device/noise-protocol.go).
// Every integer is little-endian; the type is one byte followed by three zero bytes, so the first
// four bytes read as a little-endian 32-bit type. Handshake messages have exact sizes; a
// transport message is a 16-byte header followed by the sealed, padded packet.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "libs/base/bytes.h"
#include "libs/base/result.h"

namespace tnet::wire {

enum class WgMessageType : uint32_t {
  INITIATION = 1,
  RESPONSE = 2,
  COOKIE_REPLY = 3,
  TRANSPORT = 4,
};

constexpr size_t WG_INITIATION_SIZE = 148;
constexpr size_t WG_RESPONSE_SIZE = 92;
constexpr size_t WG_COOKIE_REPLY_SIZE = 64;
constexpr size_t WG_TRANSPORT_HEADER_SIZE = 16;
constexpr size_t WG_TAG_SIZE = 16;
constexpr size_t WG_KEEPALIVE_SIZE = WG_TRANSPORT_HEADER_SIZE + WG_TAG_SIZE;  // also the minimum
constexpr size_t WG_MAX_MESSAGE_SIZE = 65535;                                 // largest UDP payload
constexpr size_t WG_MAX_CONTENT_SIZE = WG_MAX_MESSAGE_SIZE - WG_KEEPALIVE_SIZE;
constexpr size_t WG_MAC_SIZE = 16;
constexpr size_t WG_TIMESTAMP_SIZE = 12;  // TAI64N

constexpr size_t WG_TRANSPORT_OFFSET_RECEIVER = 4;
constexpr size_t WG_TRANSPORT_OFFSET_COUNTER = 8;
constexpr size_t WG_TRANSPORT_OFFSET_CONTENT = 16;

using WgMac = std::array<uint8_t, WG_MAC_SIZE>;

struct WgInitiation {
  uint32_t sender = 0;
  std::array<uint8_t, 32> ephemeral{};
  std::array<uint8_t, 32 + WG_TAG_SIZE> encryptedStatic{};
  std::array<uint8_t, WG_TIMESTAMP_SIZE + WG_TAG_SIZE> encryptedTimestamp{};
  WgMac mac1{};
  WgMac mac2{};
};

struct WgResponse {
  uint32_t sender = 0;
  uint32_t receiver = 0;
  std::array<uint8_t, 32> ephemeral{};
  std::array<uint8_t, WG_TAG_SIZE> encryptedNothing{};
  WgMac mac1{};
  WgMac mac2{};
};

struct WgCookieReply {
  uint32_t receiver = 0;
  std::array<uint8_t, 24> nonce{};
  std::array<uint8_t, WG_MAC_SIZE + WG_TAG_SIZE> encryptedCookie{};
};

struct WgTransportHeader {
  uint32_t receiver = 0;
  uint64_t counter = 0;
};

// The message type of a datagram, checked the way receivers must: the three bytes after the type
// are zero, handshake messages have their exact size, and a transport message is at least a
// keepalive long and at most 65535 bytes. Anything else is INVALID with the reason.
Result<WgMessageType> classifyWgDatagram(ByteSpan datagram);

Result<WgInitiation> parseWgInitiation(ByteSpan datagram);
Result<WgResponse> parseWgResponse(ByteSpan datagram);
Result<WgCookieReply> parseWgCookieReply(ByteSpan datagram);
Result<WgTransportHeader> parseWgTransportHeader(ByteSpan datagram);

// Serialisers write the whole message, MAC fields included (callers fill MACs afterwards in place
// when they compute them over the serialised bytes).
Bytes serializeWgInitiation(const WgInitiation& msg);
Bytes serializeWgResponse(const WgResponse& msg);
Bytes serializeWgCookieReply(const WgCookieReply& msg);
// The 16-byte transport header, written at out[0..16).
void writeWgTransportHeader(uint8_t* out, uint32_t receiver, uint64_t counter);

// The byte ranges MACs cover (whitepaper §5.4.4): mac1 covers everything before it, mac2
// everything before mac2. `size` is the whole message's size.
constexpr size_t wgMac1Offset(size_t size) {
  return size - 2 * WG_MAC_SIZE;
}
constexpr size_t wgMac2Offset(size_t size) {
  return size - WG_MAC_SIZE;
}

}  // namespace tnet::wire
