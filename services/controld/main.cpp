// controld: the control-plane client (ts2021 Noise + HTTP/2). Holds the machine key.
#include "libs/service/service.h"
#include "services/controld/app/controld_app.h"

int main(int argc, char** argv) {
  return tnet::service::run({.name = "controld", .addOptions = nullptr, .start = tnet::controld::startApp},
                            argc, argv);
}
