#include "cli/localapi_calls.h"

#include <iostream>

#include "cli/version_info.h"

namespace tnet::cli {
namespace {

// Go's CLI warns once when the daemon's version differs from its own.
void warnOnVersionMismatch(const HttpResponse& resp) {
  static bool warned = false;
  if (warned || !resp.serverVersion || resp.serverVersion->empty()) return;
  if (*resp.serverVersion == longVersion() || *resp.serverVersion == shortVersion()) return;
  warned = true;
  std::cerr << "Warning: client version \"" << longVersion() << "\" != tailnetd server version \""
            << *resp.serverVersion << "\"\n";
}

}  // namespace

Result<std::string> callLocalApi(LocalApiClient& client, std::string_view method, std::string_view path,
                                 int wantStatus, std::string_view body) {
  TNET_TRY(HttpResponse resp, client.request(method, path, body));
  return checkLocalApiResponse(std::move(resp), wantStatus);
}

Result<std::string> checkLocalApiResponse(HttpResponse resp, int wantStatus) {
  warnOnVersionMismatch(resp);
  if (resp.status == 403) return Error::denied("Access denied: " + errorMessageFromBody(resp.body));
  if (resp.status == 412) return Error::failed("Preconditions failed: " + errorMessageFromBody(resp.body));
  if (resp.status != wantStatus) {
    // Go's bestError: the JSON {"Error":…} text when there is one, else "<status>: <body>".
    std::string msg;
    if (auto e = jsonErrorField(resp.body)) {
      msg = *e;
    } else {
      msg = std::to_string(resp.status) + (resp.reason.empty() ? "" : " " + resp.reason) + ": " +
            errorMessageFromBody(resp.body);
    }
    if (resp.status == 404) return Error::unimplemented(msg);
    return Error::failed(msg);
  }
  return std::move(resp.body);
}

Result<nlohmann::json> getJson(LocalApiClient& client, std::string_view path) {
  TNET_TRY(std::string body, callLocalApi(client, "GET", path, 200));
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return Error::invalid("invalid JSON from tailnetd for " + std::string(path));
  }
  return j;
}

}  // namespace tnet::cli
