#include "libs/wire/keys.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

namespace tnet::key {

Result<void> parseHexKey(MutableByteSpan out, std::string_view text, std::string_view prefix) {
  // Messages as Go's parseHex, which deliberately never echoes the input.
  if (text.substr(0, prefix.size()) != prefix) {
    return Error::invalid("key hex string doesn't have expected type prefix " + std::string(prefix));
  }
  std::string_view hex = text.substr(prefix.size());
  if (hex.size() != out.size() * 2) {
    return Error::invalid("key hex has the wrong size, got " + std::to_string(hex.size()) + " want " +
                          std::to_string(out.size() * 2));
  }
  if (!crypto::hexDecodeInto(out, hex)) return Error::invalid("invalid hex character in key");
  return {};
}

std::string shortStringOf(const crypto::Key32& key) {
  if (key == crypto::Key32{}) return "";
  // The first 5 base64 characters depend only on the first 4 bytes.
  return "[" + crypto::base64Encode(ByteSpan(key.data(), 4)).substr(0, 5) + "]";
}

std::string discoShortStringOf(const crypto::Key32& key) {
  if (key == crypto::Key32{}) return "";
  return "d:" + hexEncode(ByteSpan(key.data(), 8));
}

namespace {

template <typename Public>
void publicToJson(nlohmann::json& j, const Public& k) {
  j = k.toString();
}

template <typename Public>
void publicFromJson(const nlohmann::json& j, Public& k) {
  if (j.is_null()) {
    k = Public();
    return;
  }
  if (!j.is_string()) {
    throw nlohmann::json::type_error::create(302, "key must be a JSON string", &j);
  }
  auto parsed = Public::parse(j.get_ref<const std::string&>());
  if (!parsed) throw nlohmann::json::other_error::create(501, parsed.error().message, &j);
  k = *parsed;
}

}  // namespace

void to_json(nlohmann::json& j, const MachinePublic& k) {
  publicToJson(j, k);
}
void to_json(nlohmann::json& j, const NodePublic& k) {
  publicToJson(j, k);
}
void to_json(nlohmann::json& j, const DiscoPublic& k) {
  publicToJson(j, k);
}
void to_json(nlohmann::json& j, const ChallengePublic& k) {
  publicToJson(j, k);
}
void from_json(const nlohmann::json& j, MachinePublic& k) {
  publicFromJson(j, k);
}
void from_json(const nlohmann::json& j, NodePublic& k) {
  publicFromJson(j, k);
}
void from_json(const nlohmann::json& j, DiscoPublic& k) {
  publicFromJson(j, k);
}
void from_json(const nlohmann::json& j, ChallengePublic& k) {
  publicFromJson(j, k);
}

Bytes nodePublicToBinary(const NodePublic& key) {
  Bytes out(2 + KEY_LEN);
  out[0] = 'n';
  out[1] = 'p';
  std::copy(key.raw().begin(), key.raw().end(), out.begin() + 2);
  return out;
}

Result<NodePublic> nodePublicFromBinary(ByteSpan data) {
  if (data.size() < 2 || data[0] != 'n' || data[1] != 'p') {
    return Error::invalid("missing/incorrect type prefix np");
  }
  if (data.size() != 2 + KEY_LEN) {
    return Error::invalid("incorrect len for NodePublic (" + std::to_string(data.size()) + " != 34)");
  }
  return NodePublic::fromBytes(data.subspan(2));
}

}  // namespace tnet::key
