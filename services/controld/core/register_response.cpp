#include "services/controld/core/register_response.h"

#include "libs/ipn/go_json.h"

namespace tnet::controld {
namespace {

using ipn::Json;

Result<void> readInt(const Json& v, int64_t& out, std::string_view type, std::string_view field) {
  return ipn::readInt64(v, out, INT64_MIN, INT64_MAX, type, field, "int64");
}

Result<void> readUser(const Json& v, RegisterUser& u) {
  if (v.is_null()) return {};
  if (!v.is_object()) return ipn::typeError(v, "RegisterResponse", "User", "tailcfg.User");
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (ipn::keyEqualFold(it.key(), "ID")) TNET_TRY_VOID(readInt(it.value(), u.id, "User", "ID"));
    else if (ipn::keyEqualFold(it.key(), "DisplayName")) TNET_TRY_VOID(ipn::readString(it.value(), u.displayName, "User", "DisplayName"));
    else if (ipn::keyEqualFold(it.key(), "ProfilePicURL")) TNET_TRY_VOID(ipn::readString(it.value(), u.profilePicUrl, "User", "ProfilePicURL"));
  }
  return {};
}

Result<void> readLogin(const Json& v, RegisterLogin& l) {
  if (v.is_null()) return {};
  if (!v.is_object()) return ipn::typeError(v, "RegisterResponse", "Login", "tailcfg.Login");
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    if (ipn::keyEqualFold(k, "ID")) TNET_TRY_VOID(readInt(it.value(), l.id, "Login", "ID"));
    else if (ipn::keyEqualFold(k, "Provider")) TNET_TRY_VOID(ipn::readString(it.value(), l.provider, "Login", "Provider"));
    else if (ipn::keyEqualFold(k, "LoginName")) TNET_TRY_VOID(ipn::readString(it.value(), l.loginName, "Login", "LoginName"));
    else if (ipn::keyEqualFold(k, "DisplayName")) TNET_TRY_VOID(ipn::readString(it.value(), l.displayName, "Login", "DisplayName"));
    else if (ipn::keyEqualFold(k, "ProfilePicURL")) TNET_TRY_VOID(ipn::readString(it.value(), l.profilePicUrl, "Login", "ProfilePicURL"));
  }
  return {};
}

}  // namespace

Result<RegisterResponse> decodeRegisterResponse(std::string_view json) {
  if (json.size() > MAX_REGISTER_RESPONSE) return Error::invalid("RegisterResponse larger than 1 MiB");
  TNET_TRY(Json doc, ipn::parseJson(json));
  if (!doc.is_object()) return Error::invalid("RegisterResponse is not a JSON object");
  RegisterResponse r;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    if (ipn::keyEqualFold(k, "User")) TNET_TRY_VOID(readUser(v, r.user));
    else if (ipn::keyEqualFold(k, "Login")) TNET_TRY_VOID(readLogin(v, r.login));
    else if (ipn::keyEqualFold(k, "NodeKeyExpired")) TNET_TRY_VOID(ipn::readBool(v, r.nodeKeyExpired, "RegisterResponse", "NodeKeyExpired"));
    else if (ipn::keyEqualFold(k, "MachineAuthorized")) TNET_TRY_VOID(ipn::readBool(v, r.machineAuthorized, "RegisterResponse", "MachineAuthorized"));
    else if (ipn::keyEqualFold(k, "AuthURL")) TNET_TRY_VOID(ipn::readString(v, r.authUrl, "RegisterResponse", "AuthURL"));
    else if (ipn::keyEqualFold(k, "NodeKeySignature")) TNET_TRY_VOID(ipn::readString(v, r.nodeKeySignature, "RegisterResponse", "NodeKeySignature"));
    else if (ipn::keyEqualFold(k, "Error")) TNET_TRY_VOID(ipn::readString(v, r.error, "RegisterResponse", "Error"));
  }
  return r;
}

}  // namespace tnet::controld
