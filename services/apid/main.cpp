// apid: the LocalAPI front. HTTP/1.1 on the socket tailnetd (or tailnetd-apid.socket) hands it,
// caller identity from SO_PEERCRED, every request forwarded to ipnd. Holds no state of its own.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>

#include "libs/service/service.h"
#include "services/apid/app/apid_app.h"

int main(int argc, char** argv) {
  tnet::apid::AppOptions options = tnet::apid::defaultAppOptions();
  uint32_t ownerUid = 0;
  int64_t ipndTimeoutMs = options.ipndTimeout.count();
  int64_t headerTimeoutMs = options.headerTimeout.count();
  CLI::Option* ownerOption = nullptr;
  return tnet::service::run(
      {.name = "apid",
       .addOptions =
           [&](CLI::App& app) {
             ownerOption =
                 app.add_option("--owner-uid", ownerUid, "uid that started tailnetd; may write like root");
             app.add_option("--ipnd-timeout-ms", ipndTimeoutMs,
                            "how long a LocalAPI call waits for ipnd before answering 503")
                 ->check(CLI::Range(int64_t{1}, int64_t{600'000}));
             app.add_option("--header-timeout-ms", headerTimeoutMs,
                            "how long a client may take to send a request's headers")
                 ->check(CLI::Range(int64_t{1}, int64_t{600'000}));
           },
       .start =
           [&](tnet::service::Service& svc) {
             if (ownerOption && ownerOption->count() > 0) options.ownerUid = ownerUid;
             options.ipndTimeout = std::chrono::milliseconds(ipndTimeoutMs);
             options.headerTimeout = std::chrono::milliseconds(headerTimeoutMs);
             return tnet::apid::startApp(svc, options);
           }},
      argc, argv);
}
