// apid's wiring: the inherited LocalAPI socket, the Beast server, ipnd over the bus.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "libs/base/result.h"
#include "libs/service/service.h"

namespace tnet::apid {

struct AppOptions {
  // --owner-uid: the uid that started tailnetd; writes like root. Default: our own uid when not
  // root (Go: "non-root user matching daemon has access").
  std::optional<uint32_t> ownerUid;
  // --ipnd-timeout-ms: how long a LocalAPI call waits for ipnd before answering 503.
  std::chrono::milliseconds ipndTimeout;
  // --header-timeout-ms: how long a client may take to send a request head.
  std::chrono::milliseconds headerTimeout;
};

AppOptions defaultAppOptions();

// The listening socket from LISTEN_FDS=1 / LISTEN_PID (fd 3), checked to be a listening
// AF_UNIX stream socket; a clear error otherwise.
Result<int> inheritedListenSocket();

Result<std::shared_ptr<void>> startApp(service::Service& svc, const AppOptions& options);

}  // namespace tnet::apid
