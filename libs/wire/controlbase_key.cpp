#include "libs/wire/controlbase_key.h"

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "libs/wire/controlbase_json.h"

namespace tnet::controlbase {

namespace {

Result<void> applyField(const nlohmann::ordered_json& doc, std::string_view name, key::MachinePublic& out) {
  for (const auto* value : fieldsLikeGo(doc, name)) {
    if (value->is_null()) continue;  // Go: null leaves the field unchanged
    if (!value->is_string()) return Error::invalid(std::string(name) + " is not a string");
    auto k = key::MachinePublic::parse(value->get_ref<const std::string&>());
    if (!k) return Error::invalid(std::string(name) + ": " + k.error().message);
    out = *k;
  }
  return {};
}

Result<ServerKeys> parseJson(ByteSpan body) {
  TNET_TRY(auto doc, parseJsonDocument(body));
  ServerKeys keys;
  if (doc.is_null()) return keys;
  if (!doc.is_object()) return Error::invalid("JSON is not an object");
  TNET_TRY_VOID(applyField(doc, "legacyPublicKey", keys.legacyPublicKey));
  TNET_TRY_VOID(applyField(doc, "publicKey", keys.publicKey));
  return keys;
}

}  // namespace

Result<ServerKeys> parseServerKeyResponse(ByteSpan body) {
  body = body.first(std::min(body.size(), MAX_KEY_RESPONSE_LEN));
  auto fromJson = parseJson(body);
  if (fromJson) return fromJson;
  // Old servers sent the legacy key as bare hex (no prefix, no trailing newline).
  auto legacy = key::MachinePublic::parseUntyped(
      std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
  if (!legacy) {
    return Error::invalid("control key response: " + fromJson.error().message + "; " +
                          legacy.error().message);
  }
  ServerKeys keys;
  keys.legacyPublicKey = *legacy;
  return keys;
}

Result<key::MachinePublic> noiseKeyOf(const ServerKeys& keys) {
  if (keys.publicKey.isZero()) return Error::failed("control server is too old; no noise key");
  return keys.publicKey;
}

}  // namespace tnet::controlbase
