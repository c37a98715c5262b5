// ipnd: prefs, the derived state, the status aggregator and every LocalAPI semantic.
#include <CLI/CLI.hpp>

#include "libs/service/service.h"
#include "services/ipnd/app/ipnd_app.h"

int main(int argc, char** argv) {
  static tnet::ipnd::AppOptions options;
  return tnet::service::run(
      {.name = "ipnd",
       .addOptions =
           [](CLI::App& app) {
             app.add_option("--config-fd", options.configFd,
                            "inherited fd carrying one ConfigVAlpha JSON document")
                 ->check(CLI::NonNegativeNumber);
           },
       .start = [](tnet::service::Service& svc) { return tnet::ipnd::startApp(svc, options); }},
      argc, argv);
}
