// wgd: the WireGuard service. Holds the node key; never touches the network (ARCHITECTURE.md).
#include "libs/service/service.h"
#include "services/wgd/app/wgd_app.h"

int main(int argc, char** argv) {
  return tnet::service::run({.name = "wgd", .addOptions = nullptr, .start = tnet::wgd::startApp}, argc, argv);
}
