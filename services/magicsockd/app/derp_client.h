// One DERP connection to one region (Go derp/derphttp Client + derp.Client), on the service's
// loop (Asio, through libs/bus/loop_asio.h; the header stays Asio-free).
//
// Dial: the region's nodes in map order, skipping STUNOnly ones; per node the IPv4 literal, the
// IPv6 literal (a value that does not parse, e.g. "none", disables that family), else HostName
// resolved; port DERPPort, or 443 (TLS) / 3340 (plain HTTP with TS_DEBUG_USE_DERP_HTTP=1) when 0;
// 1.5 s per TCP connect, 10 s for the whole sequence. TLS verifies the chain for SNI = HostName
// against CertName (or HostName); a `sha256-raw:<hex>` CertName pins the leaf certificate instead;
// InsecureForTests disables verification.
// Handshake: `GET /derp` with `Upgrade: DERP` → 101 → ServerKey → ClientInfo (sealed by wgd: the
// `sealClientInfo` callback returns the whole frame payload) → ServerInfo. magicsockd never holds
// the node key, so it cannot open ServerInfo's box: receiving the frame completes the handshake and
// Go's optional token-bucket hint is not applied (docs/magicsock.md).
// Steady state: SendPacket with a bounded queue (32 packets, as Go's write queue; more are dropped
// and counted), Ping answered with Pong, KeepAlive, PeerGone/PeerPresent, NotePreferred.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/bus/loop.h"
#include "libs/wire/derp.h"

namespace tnet::magicsockd {

struct DerpNodeDial {
  std::string name;
  std::string hostName;
  std::string certName;
  std::string ipv4;
  std::string ipv6;
  int derpPort = 0;
  bool insecureForTests = false;
  bool stunOnly = false;
};

struct DerpClientStats {
  uint64_t framesIn = 0;
  uint64_t packetsIn = 0;
  uint64_t packetsOut = 0;
  uint64_t dropsQueueFull = 0;
  uint64_t pingsAnswered = 0;
  uint64_t keepAlives = 0;
  uint64_t ignoredFrames = 0;
};

struct DerpClientCallbacks {
  // Asks wgd for the ClientInfo payload sealed to `serverPublic`; `done` gets the payload.
  std::function<void(const derp::NodePublic& serverPublic, std::function<void(Result<Bytes>)> done)>
      sealClientInfo;
  std::function<void()> onConnected;                      // ServerInfo received
  std::function<void(const derp::RecvPacket&)> onPacket;  // data valid during the call
  std::function<void(const derp::PeerGone&)> onPeerGone;
  std::function<void(const derp::PeerPresent&)> onPeerPresent;
  std::function<void()> onFrame;                         // any frame: the read deadline resets
  std::function<void(const std::string& why)> onClosed;  // once, unless close() was called
};

class DerpClient : public std::enable_shared_from_this<DerpClient> {
 public:
  static constexpr size_t SEND_QUEUE_PACKETS = 32;

  DerpClient(bus::Loop& loop, int regionId, std::vector<DerpNodeDial> nodes, bool plainHttp,
             DerpClientCallbacks callbacks);
  ~DerpClient();

  void connect();
  // Queues a SendPacket (held while the connection is still being set up); false (counted) when
  // the queue is full or the connection is closed.
  bool send(const derp::NodePublic& dst, ByteSpan packet);
  void notePreferred(bool preferred);
  void close();  // no more callbacks

  bool connected() const;
  int regionId() const { return regionId_; }
  const std::string& nodeName() const { return nodeName_; }
  const DerpClientStats& stats() const { return stats_; }

  struct Impl;

 private:
  bus::Loop& loop_;
  int regionId_;
  std::string nodeName_;
  DerpClientStats stats_;
  std::unique_ptr<Impl> impl_;
  friend struct Impl;
};

// Resolves `host` on the loop (Asio's resolver thread); the callback gets "ip" strings.
void resolveHost(bus::Loop& loop, const std::string& host,
                 std::function<void(std::vector<std::string>)> done);

// Go's sha256-raw pin check: lowercase hex of SHA-256 over the DER certificate.
bool certMatchesPin(ByteSpan der, std::string_view certName);

}  // namespace tnet::magicsockd
