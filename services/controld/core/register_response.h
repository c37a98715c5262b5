// tailcfg.RegisterResponse from POST /machine/register (Go reads at most 1 MiB of it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::controld {

inline constexpr size_t MAX_REGISTER_RESPONSE = 1u << 20;

struct RegisterUser {  // tailcfg.User (the parts Go copies)
  int64_t id = 0;
  std::string displayName, profilePicUrl;
};

struct RegisterLogin {  // tailcfg.Login
  int64_t id = 0;
  std::string provider, loginName, displayName, profilePicUrl;
};

struct RegisterResponse {
  RegisterUser user;
  RegisterLogin login;
  bool nodeKeyExpired = false;
  bool machineAuthorized = false;
  std::string authUrl;
  std::string nodeKeySignature;  // base64; non-empty = tailnet lock re-signing requested
  std::string error;

  // Go's doLogin: logged in when there is no error and no AuthURL, even if not authorized yet.
  bool loggedIn() const { return error.empty() && authUrl.empty(); }
};

Result<RegisterResponse> decodeRegisterResponse(std::string_view json);

}  // namespace tnet::controld
