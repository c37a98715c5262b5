// netstackd: the userspace TCP/IP stack, packet filter and local proxies.
#include <CLI/CLI.hpp>

#include "libs/service/service.h"
#include "services/netstackd/app/netstackd_app.h"

int main(int argc, char** argv) {
  tnet::netstackd::Flags flags;
  return tnet::service::run(
      {.name = "netstackd",
       .addOptions =
           [&](CLI::App& app) {
             app.add_option("--socks5-server", flags.socks5Server, "SOCKS5 listen address (host:port)");
             app.add_option("--outbound-http-proxy-listen", flags.httpProxyListen,
                            "HTTP proxy listen address (host:port)");
           },
       .start = [&](tnet::service::Service& s) { return tnet::netstackd::startApp(s, flags); }},
      argc, argv);
}
