// A small HTTP/1.1 GET client on the bus loop: plain http:// and https:// (TLS 1.2+, the system
// CA store plus an optional extra PEM, SNI, host name verified). For GET /key?v=N and other
// small fetches; one connection per call, "Connection: close".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "libs/base/result.h"
#include "libs/bus/loop.h"
#include "libs/net/http_types.h"
#include "libs/net/limits.h"
#include "libs/wire/controlbase_key.h"

namespace tnet::net {

struct HttpClientOptions {
  // The whole exchange (resolve, connect, TLS, request, response) must finish in this time.
  std::chrono::milliseconds timeout{10000};
  // A longer body is an error (Error::overloaded), not a truncation.
  size_t maxBody = DEFAULT_MAX_UNARY_BODY;
  // A PEM file of extra trusted CA certificates (tests); the system store is always used too.
  std::string extraCaFile;
  // Trust only extraCaFile, not the system store (tests that prove a wrong CA is refused).
  bool noSystemCa = false;
};

// GET `url` (http://host[:port]/path?query or https://…). `done` runs exactly once, on the
// loop, never inside this call. Errors: INVALID for a bad URL, FAILED for resolve/connect/TLS
// (certificate) errors and timeouts, OVERLOADED for a too-large header block or body.
void httpGet(bus::Loop& loop, std::string url, HttpClientOptions options,
             std::function<void(Result<HttpResponse>)> done);

// GET <controlUrl>/key?v=<capver> and parse the reply (controlbase::parseServerKeyResponse);
// a non-200 status is an error. Go reads at most 64 KiB of it.
void fetchServerKey(bus::Loop& loop, std::string controlUrl, uint16_t capver, HttpClientOptions options,
                    std::function<void(Result<controlbase::ServerKeys>)> done);

}  // namespace tnet::net
