// magicsockd: UDP, DERP, disco and STUN; picks each peer's path. Holds the disco key.
#include <CLI/CLI.hpp>

#include "libs/service/service.h"
#include "services/magicsockd/app/magicsockd_app.h"

int main(int argc, char** argv) {
  tnet::magicsockd::Flags flags;
  return tnet::service::run(
      {.name = "magicsockd",
       .addOptions =
           [&](CLI::App& app) {
             app.add_option("--port", flags.port, "UDP port (0 = pick one)")->check(CLI::Range(0, 65535));
           },
       .start = [&](tnet::service::Service& s) { return tnet::magicsockd::startApp(s, flags); }},
      argc, argv);
}
