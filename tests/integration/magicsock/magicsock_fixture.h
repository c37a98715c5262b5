// Test fixture for magicsockd multi-process tests: a real magicsockd process per node, and in
// the test process the parts it talks to — a Bus as "wgd" (serving wgd.derpClientInfo with a real
// node key, publishing wgd.nodekey, both packet pipes) and an operator Bus playing ipnd (calling
// magicsockd.setConfig, watching magicsockd.discokey/derp/paths). testderp runs in-process or as
// the real binary (inside a network namespace for the firewall tests).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libs/bus/bus.h"
#include "libs/bus/data_pipe.h"
#include "libs/bus/loop.h"
#include "libs/wire/keys.h"

namespace tnet::magicsocktest {

struct DerpTarget {
  std::string ip = "127.0.0.1";
  uint16_t derpPort = 0;
  int stunPort = 0;
  std::string hostName;  // set: the node has only this HostName (no IP literals), resolved by magicsockd
  int regionId = 1;
  bool noMeasureNoHome = false;
};

struct Received {
  key::NodePublic peer;  // zero: unknown
  uint8_t path = 0;      // 0 UDP, 1 DERP
  std::string source;    // "ip:port" for UDP, region id for DERP
  Bytes datagram;
};

struct PathView {
  std::string curAddr;
  int relayRegion = 0;
  int64_t rttNs = 0;
};

class Node {
 public:
  // `netns`: run magicsockd inside this named network namespace ("" = ours).
  Node(bus::Loop& loop, std::string name, std::string netns = "");
  ~Node();

  Result<void> start(const std::map<std::string, std::string>& extraEnv = {});
  // A command prefix for magicsockd (e.g. strace), set before start().
  void setWrapper(std::vector<std::string> wrapper) { wrapper_ = std::move(wrapper); }
  std::string nodePublicHex() const { return nodeKey_.publicKey().untypedHex(); }
  void kill();
  bool alive();
  std::string log() const;
  const std::string& stateDir() const { return stateDir_; }
  pid_t pid() const { return pid_; }
  // For leak checks only: the node private key as hex (it lives in this test process, as in wgd).
  std::string nodePrivateHex() const { return std::string(nodeKey_.toText().view().substr(8)); }

  const std::string& name() const { return name_; }
  key::NodePublic nodePublic() const { return nodeKey_.publicKey(); }
  const std::string& discoPublic() const { return disco_; }
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  uint16_t localPort() const { return localPort_; }
  int home() const { return home_; }
  bool derpConnected(int region) const;
  std::optional<PathView> pathTo(const key::NodePublic& peer) const;
  std::vector<Received>& received() { return received_; }
  int sealCalls() const { return sealCalls_; }
  uint64_t pathEvents() const { return pathEvents_; }

  struct PeerSpec {
    key::NodePublic node;
    std::string disco;
    std::vector<std::string> endpoints;
    int homeDerp = 1;
  };
  Result<void> setConfig(const DerpTarget& derp, const std::vector<PeerSpec>& peers,
                         bool wantRunning = true) {
    return setConfig(std::vector<DerpTarget>{derp}, peers, wantRunning);
  }
  Result<void> setConfig(const std::vector<DerpTarget>& regions, const std::vector<PeerSpec>& peers,
                         bool wantRunning = true);
  // magicsockd.netcheck; fills the region latency and global v4.
  struct Netcheck {
    bool udp = false;
    std::string globalV4;
    int preferredDerp = 0;
    std::map<int, int64_t> latencyNs;
  };
  Result<Netcheck> netcheck();
  // magicsockd.ping to `peer`.
  struct Ping {
    std::string err;
    int64_t latencyNs = 0;
    std::string endpoint;
    int derpRegionId = 0;
    std::string derpRegionCode;
  };
  Result<Ping> ping(const key::NodePublic& peer);
  // A fresh node key committed (wgd.nodekey commits + 1).
  void rotateNodeKey();

  // Pushes a WireGuard-looking datagram to `peer` through the wgd → magicsockd pipe.
  void sendData(const key::NodePublic& peer, ByteSpan datagram, bool flush = true);
  void flush();
  // For the benchmark: count received datagrams without keeping them.
  void setStoreReceived(bool on) { storeReceived_ = on; }
  uint64_t receivedCount() const { return receivedCount_; }

 private:
  void publishNodeKey();

  bus::Loop& loop_;
  std::string name_;
  std::string netns_;
  std::vector<std::string> wrapper_;
  std::string runtimeDir_;
  std::string stateDir_;
  std::string logPath_;
  pid_t pid_ = -1;
  key::NodePrivate nodeKey_;
  uint64_t commits_ = 1;
  std::unique_ptr<bus::Bus> wgd_;
  std::unique_ptr<bus::Bus> op_;
  std::unique_ptr<bus::PipeSender> toMagicsock_;
  std::unique_ptr<bus::PipeReceiver> fromMagicsock_;
  std::string disco_;
  std::vector<std::string> endpoints_;
  uint16_t localPort_ = 0;
  int home_ = 0;
  std::map<int, bool> derpConnected_;
  std::map<std::string, PathView> paths_;
  std::vector<Received> received_;
  bool storeReceived_ = true;
  uint64_t receivedCount_ = 0;
  int sealCalls_ = 0;
  uint64_t pathEvents_ = 0;
  uint64_t generation_ = 0;
};

// Runs the loop until pred holds or the (scaled) timeout passes.
bool runUntil(bus::Loop& loop, const std::function<bool()>& pred, std::chrono::milliseconds timeout);
std::chrono::milliseconds scaled(std::chrono::milliseconds d);
std::string binDir();
// A 64-byte WireGuard transport message (type 4) carrying `tag` in its counter.
Bytes fakeTransport(uint32_t tag);
uint32_t transportTag(ByteSpan datagram);

}  // namespace tnet::magicsocktest
