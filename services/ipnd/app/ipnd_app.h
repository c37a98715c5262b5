// ipnd's process side: wires the I/O-free Backend to the bus (ipnd.localapi, ipnd.notify,
// ipnd.state, the services' retained health), the prefs file and the --config-fd pipe.
#pragma once

#include <memory>

#include "libs/base/result.h"
#include "libs/service/service.h"

namespace tnet::ipnd {

struct AppOptions {
  int configFd = -1;  // --config-fd: one ConfigVAlpha document, read to EOF once, then closed
};

Result<std::shared_ptr<void>> startApp(service::Service& svc, const AppOptions& options);

// Reads one config document from `fd` to EOF (at most 1 MiB) and closes it.
Result<std::string> readConfigFd(int fd);

}  // namespace tnet::ipnd
