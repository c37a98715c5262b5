// controld: the control-plane client (ts2021 Noise + HTTP/2). Holds the machine key.
#include <CLI/CLI.hpp>

#include "libs/service/service.h"
#include "services/controld/app/controld_app.h"

int main(int argc, char** argv) {
  static tnet::controld::AppOptions options;
  return tnet::service::run(
      {.name = "controld",
       .addOptions =
           [](CLI::App& app) {
             // Hidden (empty group): for tests that must see the watchdog fire quickly.
             app.add_option("--map-silence-timeout", options.mapSilenceTimeoutSeconds,
                            "seconds without a map message before the poll is redone")
                 ->check(CLI::Range(0.05, 3600.0))
                 ->group("");
           },
       .start = [](tnet::service::Service& svc) { return tnet::controld::startApp(svc, options); }},
      argc, argv);
}
