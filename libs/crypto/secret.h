// Types that hold secret bytes (STYLE.md: "Secrets live in a type that wipes itself, cannot be
// copied and has no formatter").
//
// - Secret<N>: N bytes kept inline, for short-lived values (handshake chaining keys, ephemeral
//   keys, transport keys). Cheap to create, wiped on destruction and when moved from.
// - PrivateKey: a 32-byte X25519 private key in sodium_malloc storage (guard pages, mlock where
//   the system allows, wiped by sodium_free), for long-lived keys (machine, node, disco). Moving
//   it hands over the allocation; the secret bytes are never copied.
// - SecretString: text that is secret (a private key's "privkey:…" form on its way to a state
//   file); wiped on destruction.
//
// None of them has operator<<, begin()/end() or an implicit conversion to a span or string, so
// streaming one into a log, fmt/spdlog or gtest's printer fails to compile. Reading the bytes
// takes an explicit call (bytes(), raw(), view()) that is easy to find in review.
// Comparisons are constant-time.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

#include "libs/base/bytes.h"
#include "libs/crypto/crypto.h"

namespace tnet::crypto {

template <size_t N>
class Secret {
 public:
  Secret() { bytes_.fill(0); }
  explicit Secret(std::span<const uint8_t, N> from) { std::memcpy(bytes_.data(), from.data(), N); }
  ~Secret() { wipe(bytes_); }

  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept {
    std::memcpy(bytes_.data(), other.bytes_.data(), N);
    wipe(other.bytes_);
  }
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      std::memcpy(bytes_.data(), other.bytes_.data(), N);
      wipe(other.bytes_);
    }
    return *this;
  }

  // Copies `from` (which must be N bytes: a size mismatch is a bug).
  static Secret fromSpan(ByteSpan from) {
    assert(from.size() == N);
    return Secret(std::span<const uint8_t, N>(from.data(), N));
  }
  static Secret random() {
    Secret s;
    randomBytes(s.bytes_);
    return s;
  }
  // An explicit duplicate, for the rare place that must keep two live copies.
  Secret clone() const { return Secret(bytes()); }

  static constexpr size_t size() { return N; }
  std::span<const uint8_t, N> bytes() const { return bytes_; }
  std::span<uint8_t, N> mutableBytes() { return bytes_; }
  // For the primitives in crypto.h that take a Key32.
  const std::array<uint8_t, N>& array() const { return bytes_; }
  std::array<uint8_t, N>& mutableArray() { return bytes_; }

  bool isZero() const { return isZeroConstantTime(bytes_); }
  bool equals(const Secret& other) const { return equalConstantTime(bytes_, other.bytes_); }
  bool equals(ByteSpan other) const { return equalConstantTime(bytes_, other); }
  friend bool operator==(const Secret& a, const Secret& b) { return a.equals(b); }

  void clear() { wipe(bytes_); }

 private:
  std::array<uint8_t, N> bytes_;
};

template <size_t N>
std::ostream& operator<<(std::ostream&, const Secret<N>&) = delete;

using SecretKey32 = Secret<KEY_LEN>;

class PrivateKey {
 public:
  // The zero key (no allocation): what a default-constructed or moved-from key holds.
  PrivateKey() = default;
  ~PrivateKey();
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  PrivateKey(PrivateKey&& other) noexcept : key_(other.key_) { other.key_ = nullptr; }
  PrivateKey& operator=(PrivateKey&& other) noexcept;

  // A fresh key, clamped as X25519 and Go's key.NewMachine/NewNode/NewDisco make them.
  static PrivateKey generate();
  // Copies 32 raw bytes (a size mismatch is a bug).
  static PrivateKey fromSpan(ByteSpan raw);
  static PrivateKey fromSecret(const SecretKey32& raw) { return fromSpan(raw.bytes()); }

  bool isZero() const;
  bool equals(const PrivateKey& other) const;
  friend bool operator==(const PrivateKey& a, const PrivateKey& b) { return a.equals(b); }

  // The X25519 public key. Calling it on the zero key is a bug (Go panics likewise).
  Key32 publicKey() const;
  // X25519 with a peer's public key; false on a low-order peer key (all-zero result).
  [[nodiscard]] bool sharedSecret(SecretKey32& out, const Key32& peerPublic) const;

  // The raw bytes, for primitives that take a Key32 (box, x25519). Valid while *this lives;
  // the zero key yields a static all-zero array.
  const Key32& raw() const;
  SecretKey32 toSecret() const { return SecretKey32(std::span<const uint8_t, KEY_LEN>(raw())); }
  PrivateKey clone() const { return fromSpan(raw()); }

 private:
  Key32* key_ = nullptr;  // sodium_malloc'd; nullptr means the zero key
};

std::ostream& operator<<(std::ostream&, const PrivateKey&) = delete;

class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string text) : text_(std::move(text)) {}
  ~SecretString() { clear(); }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;

  // Writes into the buffer are the caller's business (e.g. write(2) into a 0600 file).
  std::string_view view() const { return text_; }
  size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }
  bool equals(std::string_view other) const;
  void clear();

 private:
  std::string text_;
};

std::ostream& operator<<(std::ostream&, const SecretString&) = delete;

}  // namespace tnet::crypto
