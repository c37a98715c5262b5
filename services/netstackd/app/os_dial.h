// Dialling outside the tailnet for the proxies, as Go's userspace mode does through the host's
// network stack (tsdial.Dialer.SystemDial): name resolution with the OS resolver (getaddrinfo,
// which may block, so it runs on a few worker threads and reports back on the loop), and
// non-blocking connects with Go's happy-eyeballs race across the resolved addresses (the next
// attempt starts 300 ms after the previous one, or at once when it fails; the first connected
// socket wins; if all fail, the first error is reported).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libs/bus/loop.h"
#include "services/netstackd/app/poller.h"
#include "services/netstackd/core/packet.h"

namespace tnet::netstack {

class HostResolver {
 public:
  struct Answer {
    int gaiError = 0;          // 0 or an EAI_* code
    std::vector<Addr> addrs;   // in getaddrinfo's (RFC 6724) order, IPv4-mapped unmapped, no duplicates
  };
  using Done = std::function<void(Answer)>;

  explicit HostResolver(bus::Loop& loop, size_t maxThreads = 4);
  ~HostResolver();  // answers not yet posted are dropped; a lookup in progress finishes on its thread
  HostResolver(const HostResolver&) = delete;
  HostResolver& operator=(const HostResolver&) = delete;

  // `done` runs later on the loop thread, never inside resolve().
  void resolve(std::string host, Done done);

  struct Shared;  // shared with the worker threads

 private:
  std::shared_ptr<Shared> shared_;
};

class OsConnector {
 public:
  struct Outcome {
    int fd = -1;  // a connected non-blocking socket (the caller owns it), or -1
    int err = 0;  // errno of the first failure when fd < 0
    Addr addr;    // the address that connected, or the one whose error is reported
  };
  using Done = std::function<void(Outcome)>;

  static constexpr std::chrono::milliseconds FALLBACK_DELAY{300};  // Go's userDialFallbackDelay

  // Starts at once; `done` runs once, from a poller or timer callback (it may destroy this).
  OsConnector(bus::Loop& loop, Poller& poller, std::vector<Addr> addrs, uint16_t port, Done done);
  ~OsConnector();
  OsConnector(const OsConnector&) = delete;
  OsConnector& operator=(const OsConnector&) = delete;

 private:
  struct Attempt {
    int fd = -1;
    uint64_t token = 0;
    Addr addr;
  };
  void startNext();
  void onEvent(size_t i);
  void failed(size_t i, int err);
  void complete(Outcome o);
  void closeAll(int keepFd);

  bus::Loop& loop_;
  Poller& poller_;
  std::vector<Addr> addrs_;
  uint16_t port_;
  Done done_;
  size_t next_ = 0, live_ = 0;
  std::vector<Attempt> attempts_;
  int firstErr_ = 0;
  Addr firstErrAddr_;
  bool finished_ = false;
  bus::Handle fallback_;
};

}  // namespace tnet::netstack
