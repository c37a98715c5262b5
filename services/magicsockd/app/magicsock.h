// The magicsockd application state (docs/magicsock.md §App): the disco key, one UDP socket per
// family, DERP connections per region, one PeerEndpoint (core/) per peer, netcheck runs and the
// packet pipes to and from wgd. Everything runs on the service's loop thread.
//   magicsock.cpp           bus wiring, setConfig, events
//   magicsock_data.cpp      datagrams: UDP demux, DERP receive, wgd pipes, disco
//   magicsock_derp.cpp      DERP connection policy and clients
//   magicsock_netcheck.cpp  STUN probes, reports, home region, own endpoints
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libs/bus/bus.h"
#include "libs/bus/data_pipe.h"
#include "libs/log/log.h"
#include "libs/service/service.h"
#include "libs/wire/derp.h"
#include "libs/wire/disco.h"
#include "libs/wire/keys.h"
#include "libs/wire/stun.h"
#include "schemas/magicsockd.capnp.h"
#include "services/magicsockd/app/derp_client.h"
#include "services/magicsockd/app/magicsockd_app.h"
#include "services/magicsockd/app/udp_socket.h"
#include "services/magicsockd/core/derp_policy.h"
#include "services/magicsockd/core/netcheck.h"
#include "services/magicsockd/core/peer_endpoint.h"

namespace tnet::magicsockd {

using magicsock::Duration;
using magicsock::MonoTime;

MonoTime monoNow();
int64_t unixMsNow();

// Counters for everything dropped; logged on shutdown and visible in tests through the log.
struct DropStats {
  uint64_t udpUnknownKind = 0;
  uint64_t udpGeneve = 0;
  uint64_t stunUnsolicited = 0;
  uint64_t discoUnknownSender = 0;
  uint64_t discoBadBox = 0;
  uint64_t discoWrongDerpSource = 0;
  uint64_t discoRejected = 0;  // CallMeMaybe over UDP, pong with an unknown TxID, …
  uint64_t derpFromUnknownPeer = 0;
  uint64_t derpNotConnected = 0;
  uint64_t toWgdDropped = 0;
  uint64_t fromWgdMalformed = 0;
  uint64_t fromWgdUnknownPeer = 0;
  uint64_t noPath = 0;
};

struct Peer {
  key::NodePublic node;
  key::DiscoPublic disco;  // zero: none (DERP only)
  std::unique_ptr<magicsock::PeerEndpoint> ep;
  std::vector<wire::IpPort> endpoints;
  int homeDerp = 0;
  magicsock::SendPath path;
  Duration lastRtt{0};
  uint64_t rxBytes = 0;
  uint64_t txBytes = 0;
  int64_t lastRxMs = 0;
  int64_t lastTxMs = 0;
  MonoTime lastTx = MonoTime::min();
};

struct OwnEndpoint {
  wire::IpPort addr;
  uint8_t type = 0;  // tailcfg.EndpointType: 1 local, 2 stun
  bool operator==(const OwnEndpoint&) const = default;
};

class Magicsock {
 public:
  Magicsock(service::Service& service, const Flags& flags);
  ~Magicsock();
  Result<void> start();

 private:
  // ---- magicsock.cpp
  void onSetConfig(bus::Request req);
  void onNodeKey(const bus::Event& ev);
  void onDiscoAdvert(const bus::Event& ev);
  void onPingRequest(bus::Request req);
  void publishDerpState();
  void publishPaths();
  // now: publish promptly, once per loop pass however many paths changed in it (a netmap of
  // thousands of peers changes thousands of paths in one setConfig).
  void markPathsDirty(bool now);
  std::string derpRegionCode(int region) const;

  // ---- magicsock_data.cpp
  void onUdpReadable(UdpSocket& sock);
  void onUdpDatagram(const wire::IpPort& from, ByteSpan datagram);
  void onDerpPacket(int region, const derp::RecvPacket& rp);
  void onWgdBatch(std::span<const std::span<const uint8_t>> packets);
  void handleDisco(ByteSpan packet, const magicsock::DiscoAddr& from, const key::NodePublic* derpSource);
  void runActions(Peer& peer, std::vector<magicsock::Action>& actions);
  void sendDisco(Peer& peer, const magicsock::DiscoAddr& to, const disco::Message& msg);
  void sendUdp(const wire::IpPort& to, ByteSpan datagram, bool now);
  bool sendDerp(int region, const key::NodePublic& dst, ByteSpan packet);
  void toWgd(const key::NodePublic* peer, bool viaDerp, const wire::IpPort& src, uint16_t region,
             ByteSpan datagram);
  void flushAll();
  void schedulePeerTimer();
  void onPeerTimer();
  Peer* peerForAddr(const wire::IpPort& addr);
  void noteAddr(const wire::IpPort& addr, Peer& peer);
  void notePeerRx(Peer& peer, size_t bytes);

  // ---- magicsock_derp.cpp
  void applyDerpActions(std::vector<magicsock::DerpAction>& actions);
  void openDerp(int region);
  void closeDerp(int region, const std::string& why, bool notifyPolicy);
  void closeAllDerp(const std::string& why);
  void scheduleDerpTimer();
  void setHome(int region);
  void sealClientInfo(const derp::NodePublic& serverPublic, std::function<void(Result<Bytes>)> done);

  // ---- magicsock_netcheck.cpp
  void startNetcheck(bool full, std::optional<bus::Request> waiter);
  void sendProbe(const magicsock::StunProbe& probe);
  void sendProbeTo(int region, const wire::IpPort& target);
  void onStunResponse(const wire::IpPort& from, ByteSpan packet);
  void finishNetcheck();
  void scheduleReStun();
  void refreshEndpoints();
  void fillReport(schema::NetcheckReport::Builder out, const magicsock::NetcheckReport& r) const;

  service::Service& service_;
  bus::Bus& bus_;
  bus::Loop& loop_;
  spdlog::logger& log_;
  Flags flags_;
  bool omitLocalAddrs_ = false;
  bool derpPlainHttp_ = false;
  key::DiscoPrivate discoKey_;
  key::DiscoPublic discoPublic_;
  key::NodePublic nodePublic_;  // committed node key from wgd.nodekey (public only)
  std::optional<uint64_t> nodeKeyCommits_;

  UdpSocket udp4_;
  UdpSocket udp6_;
  bus::Handle udp4Watch_;
  bus::Handle udp6Watch_;
  std::unique_ptr<bus::PipeSender> toWgd_;
  std::unique_ptr<bus::PipeReceiver> fromWgd_;
  Bytes pipeScratch_;

  bool wantRunning_ = false;
  bool haveConfig_ = false;
  magicsock::DerpMap derpMap_;
  std::map<int, std::vector<DerpNodeDial>> derpDial_;
  std::map<key::NodePublic, std::unique_ptr<Peer>> peers_;
  std::map<key::DiscoPublic, Peer*> byDisco_;
  std::map<wire::IpPort, Peer*, magicsock::IpPortLess> byAddr_;
  bus::Handle peerTimer_;
  MonoTime peerTimerAt_ = magicsock::NEVER;

  magicsock::DerpConnectionPolicy derpPolicy_;
  std::map<int, std::shared_ptr<DerpClient>> derps_;
  std::map<int, std::string> derpLastError_;
  std::map<int, int64_t> derpConnectedSinceMs_;
  std::map<int, MonoTime> lastDerpActivity_;
  bus::Handle derpTimer_;

  struct NetcheckRun {
    MonoTime start;
    bool full = true;
    magicsock::ReportBuilder builder;
    std::map<stun::TxId, std::pair<int, MonoTime>> inflight;  // TxID → (region, sent at)
    std::vector<bus::Handle> probeTimers;
    bus::Handle stopTimer;
    MonoTime stopAt;
    std::vector<bus::Request> waiters;
  };
  std::unique_ptr<NetcheckRun> netcheck_;
  std::optional<magicsock::NetcheckReport> lastReport_;
  magicsock::PreferredDerpChooser chooser_;
  bus::Handle reStunTimer_;
  std::vector<OwnEndpoint> endpoints_;

  struct PingWaiter {
    bus::Request req;
    MonoTime sentAt;
    magicsock::DiscoAddr to;
    bus::Handle timeout;
  };
  std::map<disco::TxId, std::unique_ptr<PingWaiter>> pingWaiters_;

  bool pathsDirty_ = false;
  bool pathsPublishPosted_ = false;  // a prompt publish is queued on the loop
  bus::Handle pathsTimer_;
  DropStats drops_;
  // Callbacks that can outlive this object (the resolver's) hold a weak reference to this.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  log::RateLimiter dropLog_{1.0, 10.0};
};

}  // namespace tnet::magicsockd
