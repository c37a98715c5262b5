// testderp's server: a small DERP relay for tests and the demo (Go cmd/derper, derp/derpserver,
// read not copied). One thread per client connection over plain HTTP/1.1 on loopback:
//   GET /derp with `Upgrade: DERP` → 101 (nothing with `Derp-Fast-Start: 1`), ServerKey,
//   ClientInfo opened with our key (which authenticates the client's node key), ServerInfo;
//   then keyed forwarding SendPacket → RecvPacket, PeerGone(NotHere) for disco sent to an
//   absent key (1/s, burst 3), PeerGone(Disconnected) to everyone a leaving client sent to,
//   Ping → Pong, KeepAlive every keepAlive (+ up to 5 s jitter by default).
// Frames are read with libs/wire's FrameReader in the SERVER role, so sizes are bounded before any
// allocation; a hostile or malformed frame closes that connection only. Mesh frames (WatchConns,
// ClosePeer, ForwardPacket) need a mesh key this server does not have: the connection is closed,
// as Go does without the key. A STUN responder (libs/wire/stun.h) runs on its own UDP port.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "libs/base/result.h"
#include "libs/wire/keys.h"

namespace tnet::testderp {

struct ServerOptions {
  std::string host = "127.0.0.1";    // an IP literal (v4 or v6)
  uint16_t port = 0;                 // 0: ephemeral
  std::optional<uint16_t> stunPort;  // unset: no STUN responder; 0: ephemeral
  std::chrono::milliseconds keepAlive{60000};
  bool keepAliveJitter = true;                // Go adds up to 5 s per connection
  std::optional<key::NodePrivate> serverKey;  // generated when unset
};

struct ServerStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> handshakes{0};  // ServerInfo sent
  std::atomic<uint64_t> handshakeFailures{0};
  std::atomic<uint64_t> httpOther{0};      // non-DERP HTTP requests answered
  std::atomic<uint64_t> forwarded{0};      // RecvPacket frames queued to a receiver
  std::atomic<uint64_t> forwardFailed{0};  // ... whose write failed (receiver too slow or gone)
  std::atomic<uint64_t> droppedNoPeer{0};
  std::atomic<uint64_t> peerGoneSent{0};
  std::atomic<uint64_t> pings{0};
  std::atomic<uint64_t> notePreferredTrue{0};  // NotePreferred(true) frames (a client's home)
  std::atomic<uint64_t> keepAlives{0};
  std::atomic<uint64_t> protocolErrors{0};  // connections closed for a hostile frame
  std::atomic<uint64_t> stunRequests{0};
  std::atomic<uint64_t> stunDropped{0};  // datagrams that were not a Tailscale binding request
  std::atomic<uint64_t> clients{0};      // currently registered
};

class DerpServer {
 public:
  static Result<std::unique_ptr<DerpServer>> start(ServerOptions options);
  ~DerpServer();  // stop()
  DerpServer(const DerpServer&) = delete;
  DerpServer& operator=(const DerpServer&) = delete;

  uint16_t port() const;
  uint16_t stunPort() const;  // 0 when STUN is off
  key::NodePublic serverPublic() const;
  const ServerStats& stats() const;
  // Closes the listeners and every connection, joins all threads. Idempotent.
  void stop();

  struct Impl;

 private:
  explicit DerpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tnet::testderp
