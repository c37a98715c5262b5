#include "tests/integration/testcontrol/server_requests.h"

#include "libs/ipn/go_json.h"
#include "services/controld/core/go_time.h"

namespace tnet::testcontrol {
namespace {

using ipn::Json;

Result<Json> parseBody(std::string_view body) {
  if (body.size() >= MAX_REQUEST_BODY) return Error::invalid("encrypted message too long");
  TNET_TRY(Json j, ipn::parseJson(body));
  if (!j.is_object()) return ipn::typeError(j, "", "", "object");
  return j;
}

template <typename Key>
Result<void> readKey(const Json& obj, const char* name, Key& out, std::string_view typeName) {
  const Json* v = goField(obj, name);
  if (v == nullptr || v->is_null()) return {};
  if (!v->is_string()) return ipn::typeError(*v, typeName, name, "key");
  auto k = Key::parse(v->get<std::string>());
  if (!k) return Error::invalid(std::string(typeName) + "." + name + ": " + k.error().message);
  out = *k;
  return {};
}

Result<void> readBoolField(const Json& obj, const char* name, bool& out, std::string_view typeName) {
  if (const Json* v = goField(obj, name)) return ipn::readBool(*v, out, typeName, name);
  return {};
}

Result<void> readStringField(const Json& obj, const char* name, std::string& out, std::string_view typeName) {
  if (const Json* v = goField(obj, name)) return ipn::readString(*v, out, typeName, name);
  return {};
}

Result<void> readVersion(const Json& obj, int64_t& out, std::string_view typeName) {
  if (const Json* v = goField(obj, "Version")) {
    return ipn::readInt64(*v, out, INT32_MIN, INT32_MAX, typeName, "Version", "tailcfg.CapabilityVersion");
  }
  return {};
}

Result<void> readHostinfo(const Json& obj, std::optional<StoredHostinfo>& out) {
  const Json* v = goField(obj, "Hostinfo");
  if (v == nullptr || v->is_null()) return {};
  TNET_TRY(StoredHostinfo h, normalizeHostinfo(*v));
  out = std::move(h);
  return {};
}

}  // namespace

Result<ServerRegisterRequest> parseRegisterRequest(std::string_view body) {
  constexpr std::string_view T = "RegisterRequest";
  TNET_TRY(Json j, parseBody(body));
  ServerRegisterRequest r;
  TNET_TRY_VOID(readVersion(j, r.version, T));
  TNET_TRY_VOID(readKey(j, "NodeKey", r.nodeKey, T));
  TNET_TRY_VOID(readKey(j, "OldNodeKey", r.oldNodeKey, T));
  if (const Json* auth = goField(j, "Auth"); auth != nullptr && !auth->is_null()) {
    if (!auth->is_object()) return ipn::typeError(*auth, T, "Auth", "tailcfg.RegisterResponseAuth");
    std::string key;
    TNET_TRY_VOID(readStringField(*auth, "AuthKey", key, "RegisterResponseAuth"));
    // Go's client wraps tailnet-lock keys as "<authkey>--TL<...>"; the part before is the key.
    if (auto cut = key.find("--TL"); cut != std::string::npos) key.resize(cut);
    if (!key.empty()) r.authKey = std::move(key);
  }
  if (const Json* e = goField(j, "Expiry"); e != nullptr && !e->is_null()) {
    if (!e->is_string()) return ipn::typeError(*e, T, "Expiry", "time.Time");
    TNET_TRY(std::optional<int64_t> t, controld::parseGoTime(e->get<std::string>()));
    r.expiry = t;
  }
  TNET_TRY_VOID(readStringField(j, "Followup", r.followup, T));
  TNET_TRY_VOID(readHostinfo(j, r.hostinfo));
  TNET_TRY_VOID(readBoolField(j, "Ephemeral", r.ephemeral, T));
  return r;
}

Result<ServerMapRequest> parseMapRequest(std::string_view body) {
  constexpr std::string_view T = "MapRequest";
  TNET_TRY(Json j, parseBody(body));
  ServerMapRequest r;
  TNET_TRY_VOID(readVersion(j, r.version, T));
  TNET_TRY_VOID(readStringField(j, "Compress", r.compress, T));
  TNET_TRY_VOID(readBoolField(j, "KeepAlive", r.keepAlive, T));
  TNET_TRY_VOID(readKey(j, "NodeKey", r.nodeKey, T));
  TNET_TRY_VOID(readKey(j, "DiscoKey", r.discoKey, T));
  TNET_TRY_VOID(readBoolField(j, "Stream", r.stream, T));
  TNET_TRY_VOID(readHostinfo(j, r.hostinfo));
  if (const Json* eps = goField(j, "Endpoints"); eps != nullptr && !eps->is_null()) {
    if (!eps->is_array()) return ipn::typeError(*eps, T, "Endpoints", "[]netip.AddrPort");
    for (const Json& e : *eps) {
      if (!e.is_string()) return ipn::typeError(e, T, "Endpoints", "netip.AddrPort");
      TNET_TRY(ipn::IpAddrPort ap, ipn::parseIpAddrPort(e.get<std::string>()));
      r.endpoints.push_back(std::move(ap));
    }
  }
  TNET_TRY_VOID(readBoolField(j, "OmitPeers", r.omitPeers, T));
  TNET_TRY_VOID(readBoolField(j, "ReadOnly", r.readOnly, T));
  return r;
}

}  // namespace tnet::testcontrol
