// controld's bus wiring: serves controld.login / logout / setConfig (ipnd only, per the
// manifest), publishes the retained controld.status and controld.netmap, and sets
// controld.health from the control client's reachability. The protocol is in control_client.h.
#pragma once

#include <memory>
#include <string>

#include "libs/base/result.h"
#include "libs/service/service.h"

namespace tnet::controld {

struct AppOptions {
  // Hidden CLI option --map-silence-timeout (seconds): Go's 120 s watchdog, shorter in tests.
  double mapSilenceTimeoutSeconds = 120;
};

Result<std::shared_ptr<void>> startApp(service::Service& service, const AppOptions& options);

}  // namespace tnet::controld
