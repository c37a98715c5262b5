// The test control server's logic, with no I/O: a node database for one tailnet, pre-auth keys,
// interactive logins, machine approval, key expiry, address allocation, and the map streams
// with the deltas every change produces. The transport (main.cpp, libs/net's Ts2021Server)
// feeds it requests and carries its output; clocks are injected, so tests drive it directly.
//
// Single-threaded. Output to map streams is queued while state changes and delivered when the
// public call that caused it returns, so a sink that ends its own stream re-entrantly (a reset
// writer) cannot disturb an iteration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libs/base/result.h"
#include "libs/ipn/go_json.h"
#include "libs/wire/keys.h"
#include "tests/integration/testcontrol/control_json.h"
#include "tests/integration/testcontrol/control_types.h"
#include "tests/integration/testcontrol/ip_pool.h"
#include "tests/integration/testcontrol/map_frame_writer.h"
#include "tests/integration/testcontrol/server_requests.h"

namespace tnet::testcontrol {

struct ControlOptions {
  std::string baseUrl;                  // "http://127.0.0.1:<port>", for AuthURLs
  std::string domain = "tailnet.test";  // tailnet name and MagicDNS suffix
  bool requireMachineAuth = false;
  std::optional<DerpOptions> derp;
  int64_t keepAliveMs = 60'000;        // Go: 50 s + up to 8 s of jitter; tests shorten it
  std::function<int64_t()> wallNow;    // Unix seconds (KeyExpiry, LastSeen, Created)
  std::function<int64_t()> monoNowMs;  // keep-alive pacing
};

struct HttpReply {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
};

// Go's http.Error: text/plain, the message plus a newline.
HttpReply httpError(int status, std::string_view message);

// Where one streaming map poll's bytes go.
struct MapSink {
  std::function<void(std::string framed)> write;  // one complete [len][payload] message
  std::function<void()> close;                    // the server ends the stream
};

class ControlServer {
 public:
  explicit ControlServer(ControlOptions options);
  ~ControlServer();

  // ---- Noise-side endpoints (the machine key is proven by the Noise handshake) ----
  using ReplyFn = std::function<void(HttpReply)>;
  // POST /machine/register. `reply` runs now, or later for a follow-up still awaiting approval;
  // the return value then names the waiter for cancelRegister (0 = already answered).
  uint64_t handleRegister(const key::MachinePublic& machine, std::string_view body, ReplyFn reply);
  void cancelRegister(uint64_t waiter);

  // POST /machine/map. Returns the reply for a non-streaming request or an error; for a
  // streaming poll returns nullopt after writing the full map to `sink` and sets `*sessionId`.
  std::optional<HttpReply> handleMap(const key::MachinePublic& machine, std::string_view body, MapSink sink,
                                     uint64_t* sessionId);
  // The transport saw the stream end (client gone, reset, connection lost).
  void endSession(uint64_t sessionId);
  // Keep-alives for streams that have been quiet for keepAliveMs.
  void tick();

  // ---- admin operations ----
  std::string createPreAuthKey(bool reusable, bool ephemeral);
  Result<void> approveNode(int64_t id);
  Result<void> expireNode(int64_t id);
  Result<void> deleteNode(int64_t id);
  Result<void> approveLogin(std::string_view loginIdOrUrl);
  // Benchmark hook: nodes with real keys, addresses and Hostinfo but no client, always online,
  // announced to every stream in one PeersChanged (or PeersRemoved) message.
  Result<void> addSyntheticPeers(size_t count);
  size_t removeSyntheticPeers(size_t count);
  // Sends the node's stream a PingRequest{URL:"<base>/ping/<token>", URLIsNoise, Log} (Go's
  // "prove you're alive" ping: the client answers with HEAD <URL>). Fails without a stream.
  Result<std::string> sendPing(int64_t id, bool overNoise);
  // The client's answer arrived (over Noise or plain HTTP); false for an unknown token.
  bool answerPing(std::string_view token, bool overNoise);
  // The tailnet's PacketFilter (Go tailcfg.FilterRule JSON, already validated by
  // parseFilterRules); nullopt = Go's FilterAllowAll, the default. Every stream gets
  // {"PacketFilter":[…]} at once; new streams get it in their full map.
  void setPacketFilter(std::optional<ipn::OrderedJson> rules);
  ipn::OrderedJson packetFilterJson() const;
  ipn::OrderedJson nodesJson() const;
  ipn::OrderedJson pendingLoginsJson() const;
  // The admin API (plain HTTP/1.1): method, target (path + query) and body → reply.
  HttpReply handleAdmin(std::string_view method, std::string_view target, std::string_view body);

  // ---- persistence (--state FILE) ----
  // The tailnet as JSON: nodes, pre-auth keys and allocation counters (no streams, no pending
  // logins). It holds the auth keys: the caller keeps it in a 0600 file.
  ipn::OrderedJson exportState() const;
  // Replaces an empty server's tailnet with a saved one (all nodes start offline).
  Result<void> importState(const ipn::Json& state);
  // Rises with every change worth saving.
  uint64_t stateVersion() const { return stateVersion_; }

  // ---- introspection (tests, logs) ----
  const NodeRecord* nodeById(int64_t id) const;
  const NodeRecord* nodeByKey(const key::NodePublic& k) const;
  size_t nodeCount() const { return nodes_.size(); }
  size_t sessionCount() const { return sessions_.size(); }
  size_t waiterCount() const { return waiters_.size(); }

 private:
  struct NodeEntry {
    NodeRecord rec;
    std::string peerJson;  // cached tailcfg.Node as peers see it; "" = stale
  };
  struct Session {
    int64_t nodeId = 0;
    bool zstd = false;
    MapSink sink;
    int64_t lastSendMs = 0;
  };
  struct Waiter {
    std::string loginId;
    key::MachinePublic machine;
    key::NodePublic nodeKey;
    ReplyFn reply;
  };
  struct Outgoing {
    uint64_t sessionId;
    std::shared_ptr<const std::string> json;
  };

  // registration
  HttpReply registerReply(const RegisterReply& r) const;
  HttpReply completeLogin(const PendingLogin& login);
  NodeEntry* createNode(const key::NodePublic& nodeKey, const key::MachinePublic& machine,
                        const std::optional<StoredHostinfo>& hostinfo, int64_t capver, bool ephemeral,
                        bool authorized, bool synthetic);
  void rekeyNode(NodeEntry& e, const key::NodePublic& newKey);
  void applyHostinfo(NodeEntry& e, const std::optional<StoredHostinfo>& hostinfo);
  std::string uniqueLabel(const std::string& hostname, int64_t id);

  // map streams
  std::string fullMapJson(const NodeEntry& self);
  const std::string& peerJson(NodeEntry& e);
  void sendTo(uint64_t sessionId, std::shared_ptr<const std::string> json);
  void sendToNode(int64_t nodeId, std::string json);
  // To every stream of an authorized node other than `except`.
  void broadcast(int64_t except, std::string json);
  void announceJoin(NodeEntry& e);
  void selfChanged(NodeEntry& e);
  void removeNode(int64_t id);
  void closeSession(uint64_t sessionId);
  void setOnline(NodeEntry& e, bool online);
  void flush();

  NodeEntry* entryById(int64_t id);
  NodeEntry* entryByKey(const key::NodePublic& k);

  ControlOptions opts_;
  UserRecord user_;
  IpPool pool_;
  MapFrameWriter frames_;
  int64_t nextNodeId_ = 1;
  uint64_t nextSessionId_ = 1;
  uint64_t nextWaiterId_ = 1;
  uint64_t syntheticSerial_ = 0;
  std::map<int64_t, NodeEntry> nodes_;  // by ID: peers come out sorted, as Go sorts them
  std::unordered_map<key::NodePublic, int64_t> byKey_;
  std::unordered_map<std::string, int64_t> labels_;
  std::unordered_map<std::string, PreAuthKey> keys_;
  std::map<std::string, PendingLogin> logins_;  // by login id
  std::map<uint64_t, Waiter> waiters_;
  std::map<uint64_t, Session> sessions_;
  std::unordered_map<int64_t, uint64_t> sessionByNode_;
  std::vector<Outgoing> outbox_;
  std::vector<std::pair<uint64_t, MapSink>> closing_;
  std::vector<std::pair<ReplyFn, HttpReply>> replies_;
  struct Ping {
    int64_t nodeId = 0;
    bool overNoise = false;
    int answers = 0;
    bool answeredOverNoise = false;
  };
  std::map<std::string, Ping> pings_;
  std::optional<ipn::OrderedJson> packetFilter_;  // nullopt = FilterAllowAll
  bool flushing_ = false;
  uint64_t stateVersion_ = 0;
};

}  // namespace tnet::testcontrol
