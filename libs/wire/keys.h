// Tailscale's Curve25519 key types and their text forms (Go: types/key machine.go, node.go,
// disco.go, util.go).
//
//   MachinePublic  "mkey:"     + 64 hex     MachinePrivate  "privkey:" + 64 hex
//   NodePublic     "nodekey:"  + 64 hex     NodePrivate     "privkey:" + 64 hex
//   DiscoPublic    "discokey:" + 64 hex     DiscoPrivate    (no text form in Go: never persisted)
//   ChallengePublic "chalpub:" + 64 hex     (the early payload's nodeKeyChallenge)
//
// Encoding is lowercase hex; parsing accepts either case, needs the exact (case-sensitive)
// prefix and exactly 64 hex digits, and its errors never echo the input (it may be a private
// key). A zero key encodes as prefix + 64 zeros; it is not omitted.
//
// Public keys are plain values (copyable, ordered, hashable). Private keys wrap
// crypto::PrivateKey: move-only, wiped, sodium_malloc-backed, no formatter; their text form is a
// crypto::SecretString.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/crypto/crypto.h"
#include "libs/crypto/secret.h"

namespace tnet::key {

constexpr size_t KEY_LEN = crypto::KEY_LEN;

struct MachineKeyTag {
  static constexpr std::string_view PUBLIC_PREFIX = "mkey:";
  static constexpr std::string_view PRIVATE_PREFIX = "privkey:";
  static constexpr bool PRIVATE_HAS_TEXT = true;
  static constexpr bool DISCO_SHORT_FORM = false;
};
struct NodeKeyTag {
  static constexpr std::string_view PUBLIC_PREFIX = "nodekey:";
  static constexpr std::string_view PRIVATE_PREFIX = "privkey:";
  static constexpr bool PRIVATE_HAS_TEXT = true;
  static constexpr bool DISCO_SHORT_FORM = false;
};
// Only in the control server's early payload (tailcfg.EarlyNoise.NodeKeyChallenge).
struct ChallengeKeyTag {
  static constexpr std::string_view PUBLIC_PREFIX = "chalpub:";
  static constexpr std::string_view PRIVATE_PREFIX = "";
  static constexpr bool PRIVATE_HAS_TEXT = false;
  static constexpr bool DISCO_SHORT_FORM = false;
};
struct DiscoKeyTag {
  static constexpr std::string_view PUBLIC_PREFIX = "discokey:";
  static constexpr std::string_view PRIVATE_PREFIX = "";
  static constexpr bool PRIVATE_HAS_TEXT = false;
  static constexpr bool DISCO_SHORT_FORM = true;
};

// The shared text rules (Go's parseHex / appendHexKey / debug32), for the templates below and
// for other key kinds that follow the same scheme.
Result<void> parseHexKey(MutableByteSpan out, std::string_view text, std::string_view prefix);
// Go's debug32: "[" + first 5 chars of std base64 + "]"; "" for the zero key.
std::string shortStringOf(const crypto::Key32& key);
// Go's DiscoPublic.ShortString: "d:" + hex of the first 8 bytes; "" for the zero key.
std::string discoShortStringOf(const crypto::Key32& key);

template <typename Tag>
class PublicKey {
 public:
  static constexpr std::string_view PREFIX = Tag::PUBLIC_PREFIX;

  PublicKey() : key_{} {}
  explicit PublicKey(const crypto::Key32& raw) : key_(raw) {}

  // Raw 32 bytes from a binary protocol; any other length is an error.
  static Result<PublicKey> fromBytes(ByteSpan raw) {
    if (raw.size() != KEY_LEN) return Error::invalid("public key has the wrong size");
    PublicKey k;
    std::copy(raw.begin(), raw.end(), k.key_.begin());
    return k;
  }
  // The text form: PREFIX + 64 hex digits (Go's UnmarshalText).
  static Result<PublicKey> parse(std::string_view text) {
    PublicKey k;
    TNET_TRY_VOID(parseHexKey(k.key_, text, PREFIX));
    return k;
  }
  // Bare 64 hex digits with no prefix (Go's Parse*PublicUntyped; the legacy /key reply).
  static Result<PublicKey> parseUntyped(std::string_view text) {
    PublicKey k;
    TNET_TRY_VOID(parseHexKey(k.key_, text, ""));
    return k;
  }

  // Go's MarshalText / String.
  std::string toString() const { return crypto::hexEncodeWithPrefix(PREFIX, key_); }
  std::string untypedHex() const { return hexEncode(key_); }
  // For logs (Go's ShortString).
  std::string shortString() const {
    if constexpr (Tag::DISCO_SHORT_FORM) {
      return discoShortStringOf(key_);
    } else {
      return shortStringOf(key_);
    }
  }

  bool isZero() const { return key_ == crypto::Key32{}; }
  const crypto::Key32& raw() const { return key_; }

  friend bool operator==(const PublicKey&, const PublicKey&) = default;
  friend auto operator<=>(const PublicKey&, const PublicKey&) = default;

 private:
  crypto::Key32 key_;
};

template <typename Tag>
class PrivateKeyOf {
 public:
  PrivateKeyOf() = default;  // the zero key

  static PrivateKeyOf generate() { return PrivateKeyOf(crypto::PrivateKey::generate()); }
  // 32 raw bytes (a size mismatch is a bug: callers hold fixed-size buffers).
  static PrivateKeyOf fromSpan(ByteSpan raw) { return PrivateKeyOf(crypto::PrivateKey::fromSpan(raw)); }
  static PrivateKeyOf fromSecret(crypto::PrivateKey secret) { return PrivateKeyOf(std::move(secret)); }

  // "privkey:" + 64 hex (Go's UnmarshalText). Disco private keys have no text form.
  static Result<PrivateKeyOf> parse(std::string_view text) requires Tag::PRIVATE_HAS_TEXT {
    crypto::SecretKey32 raw;
    TNET_TRY_VOID(parseHexKey(raw.mutableBytes(), text, Tag::PRIVATE_PREFIX));
    return PrivateKeyOf(crypto::PrivateKey::fromSecret(raw));
  }
  crypto::SecretString toText() const requires Tag::PRIVATE_HAS_TEXT {
    return crypto::SecretString(crypto::hexEncodeWithPrefix(Tag::PRIVATE_PREFIX, secret_.raw()));
  }

  bool isZero() const { return secret_.isZero(); }
  bool equals(const PrivateKeyOf& other) const { return secret_.equals(other.secret_); }
  friend bool operator==(const PrivateKeyOf& a, const PrivateKeyOf& b) { return a.equals(b); }
  // Taking the public key of the zero key is a bug (Go panics).
  PublicKey<Tag> publicKey() const { return PublicKey<Tag>(secret_.publicKey()); }
  const crypto::PrivateKey& secret() const { return secret_; }
  PrivateKeyOf clone() const { return PrivateKeyOf(secret_.clone()); }

 private:
  explicit PrivateKeyOf(crypto::PrivateKey secret) : secret_(std::move(secret)) {}
  crypto::PrivateKey secret_;
};

template <typename Tag>
std::ostream& operator<<(std::ostream&, const PrivateKeyOf<Tag>&) = delete;

using MachinePublic = PublicKey<MachineKeyTag>;
using NodePublic = PublicKey<NodeKeyTag>;
using DiscoPublic = PublicKey<DiscoKeyTag>;
using ChallengePublic = PublicKey<ChallengeKeyTag>;
using MachinePrivate = PrivateKeyOf<MachineKeyTag>;
using NodePrivate = PrivateKeyOf<NodeKeyTag>;
using DiscoPrivate = PrivateKeyOf<DiscoKeyTag>;

// JSON (nlohmann ADL hooks): a public key is its text form, as Go's MarshalText; null decodes
// to the zero key (Go skips UnmarshalText for null). Decoding anything else that does not parse
// throws nlohmann::json::type_error / other_error, which the JSON caller already handles.
// Private keys have no JSON hooks on purpose: use parse()/toText() where a secret is persisted.
void to_json(nlohmann::json& j, const MachinePublic& k);
void to_json(nlohmann::json& j, const NodePublic& k);
void to_json(nlohmann::json& j, const DiscoPublic& k);
void to_json(nlohmann::json& j, const ChallengePublic& k);
void from_json(const nlohmann::json& j, MachinePublic& k);
void from_json(const nlohmann::json& j, NodePublic& k);
void from_json(const nlohmann::json& j, DiscoPublic& k);
void from_json(const nlohmann::json& j, ChallengePublic& k);

// NodePublic's binary form (Go's MarshalBinary): "np" + 32 raw bytes.
Bytes nodePublicToBinary(const NodePublic& key);
Result<NodePublic> nodePublicFromBinary(ByteSpan data);

}  // namespace tnet::key

template <typename Tag>
struct std::hash<tnet::key::PublicKey<Tag>> {
  size_t operator()(const tnet::key::PublicKey<Tag>& k) const noexcept {
    // Keys are uniformly random: the first bytes are already a good hash.
    size_t h = 0;
    for (size_t i = 0; i < sizeof h; ++i) h = (h << 8) | k.raw()[i];
    return h;
  }
};
