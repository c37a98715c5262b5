// LocalAPI calls with Go's client semantics: the wanted status code, and Go's error texts
// ("Access denied: …", "Preconditions failed: …", "<code> <reason>: <body>").
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "cli/localapi_client.h"
#include "libs/base/result.h"

namespace tnet::cli {

// Sends and checks the status; the body on success. 403 → Error{denied, "Access denied: …"}.
Result<std::string> callLocalApi(LocalApiClient& client, std::string_view method, std::string_view path,
                                 int wantStatus, std::string_view body = {});

// callLocalApi's checks of an answer already received.
Result<std::string> checkLocalApiResponse(HttpResponse resp, int wantStatus);

// GET returning JSON (200 only).
Result<nlohmann::json> getJson(LocalApiClient& client, std::string_view path);

}  // namespace tnet::cli
