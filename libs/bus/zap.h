// Internal: the ZAP handler (RFC 27) of a Bus's ZeroMQ context. It must be bound before any
// other socket and live as long as the context: libzmq 4.3.4 admits every connection when no
// handler is bound (fails open).
//
// For ipc:// connections libzmq puts "localhost:<uid>:<gid>:<pid>" (SO_PEERCRED) in the ZAP
// request's address frame. The handler maps the uid to an identity (identityForUid) and admits
// it with User-Id = identity, or refuses with 400. Domains:
//   "tailnetd"      bus endpoints: any suite identity
//   "pipe.<from>"   data-pipe receivers: only <from> (or the operator)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "libs/bus/loop.h"
#include "libs/bus/zmq_watch.h"
#include "libs/log/log.h"

namespace tnet::bus {

inline constexpr const char* ZAP_DOMAIN_BUS = "tailnetd";

struct PeerCred {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
};

// Parses "localhost:<uid>:<gid>:<pid>" (libzmq's ipc peer address with SO_PEERCRED).
std::optional<PeerCred> parsePeerAddress(std::string_view address);

// The admission decision, for tests: the identity to admit, or empty to refuse.
std::string zapDecide(std::string_view domain, std::string_view address);

class ZapHandler {
 public:
  ZapHandler(Loop& loop, zmq::context_t& context);  // binds inproc://zeromq.zap.01 (throws)
  ~ZapHandler();
  uint64_t refused() const { return refused_; }

 private:
  void onReadable();

  zmq::socket_t socket_;
  std::unique_ptr<ZmqWatch> watch_;
  uint64_t refused_ = 0;
  log::RateLimiter refusedLog_{1.0, 5.0};
};

}  // namespace tnet::bus
