// The LocalAPI HTTP/1.1 server on the socket apid inherits. Asio-free header: the Beast code is
// all in localapi_server.cpp (BUILD-NOTES gotcha 8). Every connection is handled on the bus
// loop's io_context: SO_PEERCRED identifies the caller, core/request.h decides, ipnd answers
// through IpndClient, and watch-ipn-bus streams ipnd.notify events fed in through onNotify().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "libs/base/result.h"
#include "libs/bus/loop.h"
#include "services/apid/app/ipnd_client.h"
#include "services/apid/core/request.h"

namespace tnet::apid {

struct ServerOptions {
  Policy policy;
  std::chrono::milliseconds ipndDeadline;
  std::chrono::milliseconds headerTimeout;
  std::chrono::milliseconds bodyTimeout;
  std::chrono::milliseconds idleTimeout;
  std::chrono::milliseconds writeTimeout;
};

ServerOptions defaultServerOptions(Policy policy);

struct ServerStats {
  uint64_t connectionsAccepted = 0;
  uint64_t connectionsRefused = 0;  // over MAX_CONNECTIONS
  uint64_t connectionsOpen = 0;
  uint64_t requests = 0;
  uint64_t forwarded = 0;
  uint64_t ipndUnavailable = 0;
  uint64_t timeouts = 0;
  uint64_t watchersOpen = 0;
  uint64_t watchersFellBehind = 0;
};

class LocalApiServer {
 public:
  // Takes ownership of `listenFd` (a listening AF_UNIX stream socket).
  static Result<std::unique_ptr<LocalApiServer>> create(bus::Loop& loop, int listenFd, ServerOptions options,
                                                        IpndClient& ipnd);
  virtual ~LocalApiServer() = default;

  // An ipnd.notify event, for every watcher.
  virtual void onNotify(uint64_t seq, std::string_view json) = 0;
  // ipnd restarted: its sequence numbers start over, so every watch stream ends.
  virtual void endWatches() = 0;
  // Stops accepting and closes every connection.
  virtual void close() = 0;
  virtual const ServerStats& stats() const = 0;
};

}  // namespace tnet::apid
