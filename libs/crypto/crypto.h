// The cryptographic primitives every protocol core uses, all from well-kept libraries:
// libsodium (X25519, ChaCha20-Poly1305 IETF, XChaCha20-Poly1305, NaCl box, randomness,
// constant-time compare, wiping) and libb2 (BLAKE2s, keyed BLAKE2s). HMAC-BLAKE2s is built from
// BLAKE2s by the HMAC rules (RFC 2104, 64-byte block), as WireGuard and Noise define it.
// Nothing here allocates; outputs go to caller-provided spans whose sizes are checked.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "libs/base/bytes.h"

namespace tnet::crypto {

constexpr size_t KEY_LEN = 32;        // X25519 keys, AEAD keys, BLAKE2s-256 output
constexpr size_t AEAD_TAG_LEN = 16;   // Poly1305 tag
constexpr size_t AEAD_NONCE_LEN = 12; // ChaCha20-Poly1305 IETF
constexpr size_t XAEAD_NONCE_LEN = 24;
constexpr size_t BOX_NONCE_LEN = 24;  // crypto_box (XSalsa20-Poly1305)
constexpr size_t BOX_OVERHEAD = 16;
constexpr size_t BLAKE2S_LEN = 32;
constexpr size_t BLAKE2S_BLOCK = 64;

using Key32 = std::array<uint8_t, KEY_LEN>;

// Must be called once per process before any other function (idempotent, thread-safe).
void init();

void randomBytes(MutableByteSpan out);

// X25519. Returns false when the result is all zeros (low-order peer key), as WireGuard and
// Noise implementations must reject it.
[[nodiscard]] bool x25519(Key32& shared, const Key32& priv, const Key32& pub);
void x25519Base(Key32& pub, const Key32& priv);
// A fresh private key (clamped as X25519 requires) — used for every Curve25519 key we make.
void generatePrivateKey(Key32& priv);

// ChaCha20-Poly1305 (IETF, 96-bit nonce). out.size() must be in.size() + 16 for seal and
// in.size() - 16 for open; open returns false on a bad tag (out is then zeroed).
void aeadSeal(MutableByteSpan out, const Key32& key, std::span<const uint8_t, AEAD_NONCE_LEN> nonce,
              ByteSpan plain, ByteSpan ad);
[[nodiscard]] bool aeadOpen(MutableByteSpan out, const Key32& key,
                            std::span<const uint8_t, AEAD_NONCE_LEN> nonce, ByteSpan sealed, ByteSpan ad);
// Nonce layouts used by the protocols: WireGuard/standard Noise put a little-endian counter in
// bytes 4..11; Tailscale's controlbase puts a big-endian counter there.
std::array<uint8_t, AEAD_NONCE_LEN> nonceLE(uint64_t counter);
std::array<uint8_t, AEAD_NONCE_LEN> nonceBE(uint64_t counter);

// XChaCha20-Poly1305 (24-byte nonce), for WireGuard cookie replies.
void xaeadSeal(MutableByteSpan out, const Key32& key, std::span<const uint8_t, XAEAD_NONCE_LEN> nonce,
               ByteSpan plain, ByteSpan ad);
[[nodiscard]] bool xaeadOpen(MutableByteSpan out, const Key32& key,
                             std::span<const uint8_t, XAEAD_NONCE_LEN> nonce, ByteSpan sealed, ByteSpan ad);

// NaCl box (Curve25519-XSalsa20-Poly1305), as Go's golang.org/x/crypto/nacl/box: out is
// 16 + plain.size() (tag first). Used by DERP ClientInfo/ServerInfo and disco.
// Returns false when the shared secret would be from a low-order key.
[[nodiscard]] bool boxSeal(MutableByteSpan out, ByteSpan plain, std::span<const uint8_t, BOX_NONCE_LEN> nonce,
                           const Key32& peerPub, const Key32& myPriv);
[[nodiscard]] bool boxOpen(MutableByteSpan out, ByteSpan sealed, std::span<const uint8_t, BOX_NONCE_LEN> nonce,
                           const Key32& peerPub, const Key32& myPriv);

// BLAKE2s-256 of the concatenation of the parts; keyed when key is non-empty (≤ 32 bytes).
// outLen in 1..32 (WireGuard's MAC uses 16).
void blake2s(MutableByteSpan out, std::initializer_list<ByteSpan> parts, ByteSpan key = {});
// HMAC-BLAKE2s-256 (RFC 2104 with BLAKE2s, 64-byte block), as Noise and WireGuard use it.
void hmacBlake2s(std::span<uint8_t, BLAKE2S_LEN> out, ByteSpan key, std::initializer_list<ByteSpan> parts);
// Noise HKDF with HMAC-BLAKE2s: fills 1..3 outputs of 32 bytes each (null pointers skipped).
void hkdf(ByteSpan chainingKey, ByteSpan input, Key32* out1, Key32* out2 = nullptr, Key32* out3 = nullptr);

// Constant-time equality of two equal-length buffers (false when lengths differ).
[[nodiscard]] bool equalConstantTime(ByteSpan a, ByteSpan b);
[[nodiscard]] bool isZeroConstantTime(ByteSpan a);
void wipe(MutableByteSpan data);

// Standard base64 with padding (RFC 4648 §4), as Go's base64.StdEncoding. Decoding rejects
// missing padding, characters outside the alphabet and non-canonical trailing bits.
std::string base64Encode(ByteSpan data);
std::optional<Bytes> base64Decode(std::string_view text);
// Hex (either case) into a fixed-size buffer, in constant time and without temporary copies, so
// it suits secret key text. False unless text is exactly 2*out.size() hex digits (out is then
// wiped).
[[nodiscard]] bool hexDecodeInto(MutableByteSpan out, std::string_view text);
// Lowercase hex of data appended to prefix, computed in constant time into a string whose buffer
// is sized once (no reallocation leaves copies behind). Wrap the result in SecretString.
std::string hexEncodeWithPrefix(std::string_view prefix, ByteSpan data);

}  // namespace tnet::crypto
