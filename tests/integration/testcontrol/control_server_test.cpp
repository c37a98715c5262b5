#include "tests/integration/testcontrol/control_server.h"

#include <gtest/gtest.h>

#include <chrono>

#include "services/controld/core/map_decode.h"
#include "services/controld/core/map_frame.h"
#include "services/controld/core/netmap.h"
#include "services/controld/core/requests.h"
#include "services/controld/core/zstd_frame.h"

namespace tnet::testcontrol {
namespace {

constexpr int64_t T0 = 1'700'000'000;

crypto::Key32 randomKey() {
  crypto::Key32 k{};
  crypto::randomBytes(k);
  return k;
}

// A map stream as controld reads it: framing, optional zstd, the SAX decoder and the delta rules.
struct Stream {
  bool zstd = false;
  bool closed = false;
  controld::MapFrameReader reader;
  controld::MapSession session;
  std::vector<controld::MapResponse> messages;
  std::vector<std::string> raw;

  void feed(const std::string& bytes) {
    ASSERT_TRUE(reader.feed(ByteSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())));
    while (auto payload = reader.next()) {
      std::string json;
      if (zstd) {
        auto d = controld::zstdDecompressFrame(*payload, 64 << 20);
        ASSERT_TRUE(d.has_value()) << d.error().message;
        json = std::move(*d);
      } else {
        json.assign(payload->begin(), payload->end());
      }
      raw.push_back(json);
      auto m = controld::decodeMapResponse(json);
      ASSERT_TRUE(m.has_value()) << m.error().message << " in " << json;
      messages.push_back(*m);
      auto applied = session.apply(std::move(*m), T0);
      ASSERT_TRUE(applied.has_value()) << applied.error().message << " in " << json;
    }
  }
  const controld::NetworkMap& nm() const { return *session.netmap(); }
  const controld::MapResponse& last() const { return messages.back(); }
};

struct Client {
  key::MachinePublic machine{randomKey()};
  key::NodePublic nodeKey{randomKey()};
  key::DiscoPublic disco{randomKey()};
  std::string hostname;
  uint64_t session = 0;
};

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override { make(false); }

  void make(bool requireMachineAuth) {
    ControlOptions o;
    o.baseUrl = "http://127.0.0.1:1234";
    o.requireMachineAuth = requireMachineAuth;
    o.derp = DerpOptions{"127.0.0.1", 3340, -1};
    o.keepAliveMs = 1000;
    o.wallNow = [this] { return wall_; };
    o.monoNowMs = [this] { return mono_; };
    server_ = std::make_unique<ControlServer>(std::move(o));
  }

  HttpReply registerNode(Client& c, std::optional<std::string> authKey, std::string followup = {},
                         key::NodePublic oldKey = {}, std::optional<int64_t> expiry = std::nullopt) {
    controld::RegisterRequest r;
    r.nodeKey = c.nodeKey;
    r.oldNodeKey = oldKey;
    r.authKey = std::move(authKey);
    r.followup = std::move(followup);
    r.expiry = expiry;
    r.hostinfo.hostname = c.hostname;
    std::optional<HttpReply> out;
    server_->handleRegister(c.machine, controld::registerRequestJson(r).view(),
                            [&](HttpReply h) { out = h; });
    EXPECT_TRUE(out.has_value());
    return out.value_or(HttpReply{});
  }

  static nlohmann::json body(const HttpReply& r) { return nlohmann::json::parse(r.body); }

  std::shared_ptr<Stream> stream(Client& c, bool zstd = false) {
    auto s = std::make_shared<Stream>();
    s->zstd = zstd;
    controld::MapRequest m;
    m.nodeKey = c.nodeKey;
    m.discoKey = c.disco;
    MapSink sink{[s](std::string b) { s->feed(b); }, [s] { s->closed = true; }};
    auto reply =
        server_->handleMap(c.machine, controld::mapRequestJson(controld::streamingMapRequest(m, zstd)),
                           std::move(sink), &c.session);
    EXPECT_FALSE(reply.has_value()) << (reply ? reply->body : "");
    return s;
  }

  HttpReply lite(Client& c, std::vector<std::string> endpoints, int preferredDerp) {
    controld::MapRequest m;
    m.nodeKey = c.nodeKey;
    m.discoKey = c.disco;
    m.hostinfo.hostname = c.hostname;
    m.hostinfo.netInfo = controld::NetInfo{};
    m.hostinfo.netInfo->preferredDerp = preferredDerp;
    for (const auto& e : endpoints) {
      m.endpoints.push_back(*ipn::parseIpAddrPort(e));
      m.endpointTypes.push_back(controld::EndpointType::LOCAL);
    }
    uint64_t unused = 0;
    auto r =
        server_->handleMap(c.machine, controld::mapRequestJson(controld::liteMapRequest(m)), {}, &unused);
    EXPECT_TRUE(r.has_value());
    return r.value_or(HttpReply{});
  }

  Client joined(const std::string& key, const std::string& hostname) {
    Client c;
    c.hostname = hostname;
    auto r = registerNode(c, key);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(body(r)["Error"], "");
    return c;
  }

  int64_t wall_ = T0;
  int64_t mono_ = 0;
  std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, PreAuthJoinThenPeersSeeEachOtherAndLeave) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  auto sa = stream(a, true);
  ASSERT_EQ(sa->messages.size(), 1u);
  const auto& first = sa->nm();
  EXPECT_EQ(first.self.key, a.nodeKey);
  EXPECT_EQ(first.self.name, "a.tailnet.test.");
  ASSERT_EQ(first.self.addresses.size(), 2u);
  EXPECT_EQ(first.self.addresses[0].toString(), "100.64.0.1/32");
  EXPECT_TRUE(first.self.machineAuthorized);
  EXPECT_TRUE(first.peers.empty());
  EXPECT_EQ(first.domain, "tailnet.test");
  EXPECT_EQ(first.derpMap.regions->count(900), 1u);
  ASSERT_TRUE(first.dns);
  EXPECT_EQ(first.packetFilter.size(), 1u);
  EXPECT_EQ(first.userProfiles.count(1), 1u);

  Client b = joined(key, "b");
  // a hears about b as soon as b is registered.
  ASSERT_EQ(sa->messages.size(), 2u);
  ASSERT_TRUE(sa->last().peersChanged);
  ASSERT_EQ(sa->nm().peers.size(), 1u);
  EXPECT_EQ(sa->nm().peers[0].key, b.nodeKey);
  EXPECT_EQ(sa->nm().peers[0].addresses[0].toString(), "100.64.0.2/32");
  EXPECT_EQ(sa->nm().peers[0].online, std::optional<bool>(false));

  auto sb = stream(b);
  ASSERT_EQ(sb->nm().peers.size(), 1u);
  EXPECT_EQ(sb->nm().peers[0].key, a.nodeKey);
  EXPECT_EQ(sb->nm().peers[0].online, std::optional<bool>(true));
  // b's poll made it online for a.
  EXPECT_EQ(sa->last().onlineChange.at(sa->nm().peers[0].id), true);
  EXPECT_EQ(sa->nm().peers[0].online, std::optional<bool>(true));

  // b's stream goes away: offline, still a peer.
  wall_ += 5;
  server_->endSession(b.session);
  EXPECT_EQ(sa->nm().peers[0].online, std::optional<bool>(false));
  EXPECT_EQ(server_->nodeByKey(b.nodeKey)->lastSeen, std::optional<int64_t>(T0 + 5));

  // Deleted by the admin: gone from a's map.
  ASSERT_TRUE(server_->deleteNode(server_->nodeByKey(b.nodeKey)->id));
  EXPECT_EQ(sa->last().peersRemoved.size(), 1u);
  EXPECT_TRUE(sa->nm().peers.empty());
  EXPECT_EQ(server_->nodeCount(), 1u);
}

TEST_F(ControlServerTest, KeyRules) {
  std::string oneOff = server_->createPreAuthKey(false, false);
  Client a = joined(oneOff, "a");
  Client b;
  auto used = registerNode(b, oneOff);
  EXPECT_EQ(body(used)["Error"], "authkey already used");
  EXPECT_EQ(body(used)["User"]["ID"], 0);
  auto unknown = registerNode(b, std::string("tskey-auth-nope"));
  EXPECT_EQ(body(unknown)["Error"], "invalid authkey");
  EXPECT_EQ(server_->nodeByKey(b.nodeKey), nullptr);
  // A known node refreshing its registration needs no key (Go's startup re-register).
  auto again = registerNode(a, std::nullopt);
  EXPECT_EQ(body(again)["Error"], "");
  EXPECT_EQ(body(again)["AuthURL"], "");
  EXPECT_EQ(body(again)["MachineAuthorized"], true);
  // The same node key from another machine is refused.
  Client thief = a;
  thief.machine = key::MachinePublic(randomKey());
  EXPECT_NE(body(registerNode(thief, std::nullopt))["Error"], "");
}

TEST_F(ControlServerTest, EphemeralNodeLeavesWithItsStream) {
  std::string key = server_->createPreAuthKey(true, false);
  std::string eph = server_->createPreAuthKey(false, true);
  Client a = joined(key, "a");
  auto sa = stream(a);
  Client e = joined(eph, "e");
  auto se = stream(e);
  ASSERT_EQ(sa->nm().peers.size(), 1u);
  server_->endSession(e.session);
  EXPECT_TRUE(sa->nm().peers.empty());
  EXPECT_EQ(server_->nodeByKey(e.nodeKey), nullptr);
  EXPECT_EQ(sa->last().peersRemoved.size(), 1u);
}

TEST_F(ControlServerTest, InteractiveLoginWaitsForApproval) {
  Client c;
  c.hostname = "inter";
  auto first = registerNode(c, std::nullopt);
  std::string url = body(first)["AuthURL"];
  ASSERT_EQ(url.rfind("http://127.0.0.1:1234/auth/", 0), 0u) << url;
  EXPECT_EQ(url.size(), std::string("http://127.0.0.1:1234/auth/").size() + 20);
  // A retry gets the same URL.
  EXPECT_EQ(body(registerNode(c, std::nullopt))["AuthURL"], url);
  EXPECT_EQ(server_->pendingLoginsJson().size(), 1u);

  controld::RegisterRequest r;
  r.nodeKey = c.nodeKey;
  r.followup = url;
  std::optional<HttpReply> reply;
  uint64_t waiter = server_->handleRegister(c.machine, controld::registerRequestJson(r).view(),
                                            [&](HttpReply h) { reply = h; });
  EXPECT_NE(waiter, 0u);
  EXPECT_FALSE(reply);
  EXPECT_EQ(server_->nodeCount(), 0u);

  // The browser visit approves it.
  auto visit = server_->handleAdmin("GET", url.substr(url.find("/auth/")), "");
  EXPECT_EQ(visit.status, 200);
  ASSERT_TRUE(reply);
  EXPECT_EQ(body(*reply)["AuthURL"], "");
  EXPECT_EQ(body(*reply)["MachineAuthorized"], true);
  EXPECT_NE(server_->nodeByKey(c.nodeKey), nullptr);
  EXPECT_EQ(server_->pendingLoginsJson().size(), 0u);
  EXPECT_EQ(server_->waiterCount(), 0u);
}

TEST_F(ControlServerTest, ApprovalBeforeFollowupAndCancelledWaiters) {
  Client c;
  std::string url = body(registerNode(c, std::nullopt))["AuthURL"];
  // Follow-up abandoned by the client (stream reset): approval later does not answer it.
  controld::RegisterRequest r;
  r.nodeKey = c.nodeKey;
  r.followup = url;
  bool called = false;
  uint64_t w = server_->handleRegister(c.machine, controld::registerRequestJson(r).view(),
                                       [&](HttpReply) { called = true; });
  server_->cancelRegister(w);
  auto id = std::string(server_->pendingLoginsJson()[0]["id"]);
  auto ok = server_->handleAdmin("POST", "/admin/auth/" + id + "/approve", "");
  EXPECT_EQ(ok.status, 200);
  EXPECT_FALSE(called);
  // The next follow-up is answered at once.
  auto reply = registerNode(c, std::nullopt, url);
  EXPECT_EQ(body(reply)["AuthURL"], "");
  EXPECT_NE(server_->nodeByKey(c.nodeKey), nullptr);
  // An unknown follow-up URL is an error, not a hang.
  Client d;
  EXPECT_NE(body(registerNode(d, std::nullopt, "http://127.0.0.1:1234/auth/ffff"))["Error"], "");
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/auth/ffff/approve", "").status, 404);
}

TEST_F(ControlServerTest, MachineAuthorization) {
  make(true);
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  auto sa = stream(a);
  EXPECT_FALSE(sa->nm().self.machineAuthorized);
  ASSERT_TRUE(server_->approveNode(server_->nodeByKey(a.nodeKey)->id));
  EXPECT_TRUE(sa->nm().self.machineAuthorized);

  Client b;
  b.hostname = "b";
  auto rb = registerNode(b, key);
  EXPECT_EQ(body(rb)["MachineAuthorized"], false);
  EXPECT_EQ(body(rb)["AuthURL"], "");
  auto sb = stream(b);
  EXPECT_FALSE(sb->nm().self.machineAuthorized);
  EXPECT_TRUE(sb->nm().peers.empty());
  EXPECT_TRUE(sa->nm().peers.empty());  // not visible until approved

  auto r = server_->handleAdmin(
      "POST", "/admin/nodes/" + std::to_string(server_->nodeByKey(b.nodeKey)->id) + "/approve", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(sb->nm().self.machineAuthorized);
  ASSERT_EQ(sb->nm().peers.size(), 1u);
  ASSERT_EQ(sa->nm().peers.size(), 1u);
  EXPECT_EQ(sa->nm().peers[0].key, b.nodeKey);
}

TEST_F(ControlServerTest, KeyExpiryAndRotationKeepIdentity) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  Client b = joined(key, "b");
  auto sa = stream(a);
  auto sb = stream(b);
  int64_t bId = server_->nodeByKey(b.nodeKey)->id;
  ASSERT_TRUE(server_->expireNode(bId));
  ASSERT_TRUE(sb->nm().self.keyExpiry);
  EXPECT_LT(*sb->nm().self.keyExpiry, wall_);
  ASSERT_TRUE(sa->nm().peers[0].keyExpiry);
  EXPECT_LT(*sa->nm().peers[0].keyExpiry, wall_);
  // Re-registering the expired key: NodeKeyExpired.
  EXPECT_EQ(body(registerNode(b, std::nullopt))["NodeKeyExpired"], true);
  // A new key with OldNodeKey and a key: same node, new key, fresh expiry.
  key::NodePublic oldKey = b.nodeKey;
  b.nodeKey = key::NodePublic(randomKey());
  auto r = registerNode(b, key, "", oldKey);
  EXPECT_EQ(body(r)["Error"], "");
  const NodeRecord* n = server_->nodeByKey(b.nodeKey);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->id, bId);
  EXPECT_EQ(n->addresses.v4.toString(), "100.64.0.2/32");
  EXPECT_FALSE(n->keyExpiry);
  EXPECT_EQ(server_->nodeByKey(oldKey), nullptr);
  ASSERT_EQ(sa->nm().peers.size(), 1u);
  EXPECT_EQ(sa->nm().peers[0].key, b.nodeKey);
  EXPECT_FALSE(sa->nm().peers[0].keyExpiry);
}

TEST_F(ControlServerTest, InteractiveRotationAfterExpiry) {
  std::string key = server_->createPreAuthKey(false, false);
  Client a = joined(key, "a");
  int64_t id = server_->nodeByKey(a.nodeKey)->id;
  ASSERT_TRUE(server_->expireNode(id));
  key::NodePublic oldKey = a.nodeKey;
  a.nodeKey = key::NodePublic(randomKey());
  std::string url = body(registerNode(a, std::nullopt, "", oldKey))["AuthURL"];
  ASSERT_FALSE(url.empty());
  ASSERT_TRUE(server_->approveLogin(url));
  auto done = registerNode(a, std::nullopt, url);
  EXPECT_EQ(body(done)["AuthURL"], "");
  EXPECT_EQ(server_->nodeByKey(a.nodeKey)->id, id);
  EXPECT_EQ(server_->nodeCount(), 1u);
}

TEST_F(ControlServerTest, LiteUpdatesBecomePatches) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  Client b = joined(key, "b");
  auto sa = stream(a);
  auto sb = stream(b);
  size_t before = sa->messages.size();
  auto r = lite(b, {"127.0.0.1:41641", "[::1]:41641", "[fe80::1]:41641"}, 900);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");  // OmitPeers: an empty 200
  ASSERT_GT(sa->messages.size(), before);
  const auto& peer = sa->nm().peers[0];
  EXPECT_EQ(peer.homeDerp, 900);
  ASSERT_EQ(peer.endpoints.size(), 2u);  // link-local dropped, as Go's testcontrol does
  EXPECT_EQ(peer.endpoints[0].toString(), "127.0.0.1:41641");
  EXPECT_EQ(peer.discoKey, b.disco);
  // b sees its own node updated.
  EXPECT_EQ(sb->nm().self.endpoints.size(), 2u);
  // Endpoints alone → a PeersChangedPatch.
  before = sa->messages.size();
  lite(b, {"127.0.0.1:41642"}, 900);
  ASSERT_EQ(sa->messages.size(), before + 1);
  EXPECT_EQ(sa->last().peersChangedPatch.size(), 1u);
  EXPECT_FALSE(sa->last().peersChanged);
  EXPECT_EQ(sa->nm().peers[0].endpoints[0].toString(), "127.0.0.1:41642");
  // Nothing changed → nothing sent.
  before = sa->messages.size();
  lite(b, {"127.0.0.1:41642"}, 900);
  EXPECT_EQ(sa->messages.size(), before);
}

TEST_F(ControlServerTest, LogoutRemovesTheNode) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  Client b = joined(key, "b");
  auto sa = stream(a);
  auto sb = stream(b);
  auto r = registerNode(b, std::nullopt, "", {}, 123);
  EXPECT_EQ(body(r)["Error"], "");
  EXPECT_TRUE(sb->closed);
  EXPECT_TRUE(sa->nm().peers.empty());
  EXPECT_EQ(server_->nodeByKey(b.nodeKey), nullptr);
  EXPECT_EQ(server_->sessionCount(), 1u);
}

TEST_F(ControlServerTest, KeepAlivesAndReplacedStreams) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  auto s1 = stream(a);
  mono_ += 999;
  server_->tick();
  EXPECT_EQ(s1->messages.size(), 1u);
  mono_ += 1;
  server_->tick();
  ASSERT_EQ(s1->messages.size(), 2u);
  EXPECT_EQ(s1->raw.back(), R"({"KeepAlive":true})");
  // A second poll from the same node ends the first, and the node stays online.
  auto s2 = stream(a);
  EXPECT_TRUE(s1->closed);
  EXPECT_TRUE(server_->nodeByKey(a.nodeKey)->online);
  server_->endSession(s1->messages.empty() ? 0 : 1);  // stale id: ignored
  EXPECT_TRUE(server_->nodeByKey(a.nodeKey)->online);
  EXPECT_EQ(server_->sessionCount(), 1u);
}

TEST_F(ControlServerTest, MapRequestErrorsAsGo) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  uint64_t sid = 0;
  Client stranger;
  controld::MapRequest m;
  m.nodeKey = stranger.nodeKey;
  auto r = server_->handleMap(stranger.machine, controld::mapRequestJson(m), {}, &sid);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "node not found\n");
  m.nodeKey = a.nodeKey;
  r = server_->handleMap(stranger.machine, controld::mapRequestJson(m), {}, &sid);
  EXPECT_EQ(r->body, "node doesn't match machine key\n");
  r = server_->handleMap(a.machine, "{not json", {}, &sid);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body.rfind("bad map request: ", 0), 0u);
  // A non-streaming, non-OmitPeers request gets one framed full map.
  r = server_->handleMap(a.machine, controld::mapRequestJson(m), {}, &sid);
  EXPECT_EQ(r->status, 200);
  Stream s;
  s.feed(r->body);
  EXPECT_EQ(s.nm().self.key, a.nodeKey);
  // Register rejects what Go's testcontrol refuses.
  std::optional<HttpReply> reply;
  server_->handleRegister(a.machine, R"({"Version":0})", [&](HttpReply h) { reply = h; });
  EXPECT_EQ(reply->status, 400);
  server_->handleRegister(a.machine, R"({"Version":116})", [&](HttpReply h) { reply = h; });
  EXPECT_EQ(reply->body, "request has zero node key\n");
}

TEST_F(ControlServerTest, SyntheticPeersArriveInOneMessage) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  auto sa = stream(a, true);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_->addSyntheticPeers(2000));
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(sa->messages.size(), 2u);
  EXPECT_EQ(sa->last().peersChanged->size(), 2000u);
  EXPECT_EQ(sa->nm().peers.size(), 2000u);
  EXPECT_EQ(sa->nm().peers[0].homeDerp, 900);
  EXPECT_EQ(sa->nm().peers[0].online, std::optional<bool>(true));
  // A newcomer's first map holds everyone.
  Client b = joined(key, "b");
  auto sb = stream(b);
  EXPECT_EQ(sb->nm().peers.size(), 2001u);
  EXPECT_EQ(server_->removeSyntheticPeers(100), 100u);
  EXPECT_EQ(sa->last().peersRemoved.size(), 100u);
  EXPECT_EQ(sa->nm().peers.size(), 1901u);
  EXPECT_EQ(sb->nm().peers.size(), 1901u);  // 1900 synthetic + a
  std::printf("addSyntheticPeers(2000) took %lld ms\n", static_cast<long long>(ms));
}

TEST_F(ControlServerTest, SinkThatEndsItselfReentrantly) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  Client b = joined(key, "b");
  auto sa = stream(a);
  // b's transport resets the stream from inside write (its queue overflowed).
  controld::MapRequest m;
  m.nodeKey = b.nodeKey;
  int writes = 0;
  MapSink sink{[&](std::string) {
                 ++writes;
                 server_->endSession(b.session);
               },
               nullptr};
  EXPECT_FALSE(server_->handleMap(
      b.machine, controld::mapRequestJson(controld::streamingMapRequest(m, false)), sink, &b.session));
  EXPECT_EQ(writes, 1);
  EXPECT_EQ(server_->sessionCount(), 1u);
  EXPECT_EQ(sa->nm().peers[0].online, std::optional<bool>(false));
}

TEST_F(ControlServerTest, AdminApi) {
  auto k = server_->handleAdmin("POST", "/admin/keys", R"({"reusable":true})");
  EXPECT_EQ(k.status, 200);
  std::string key = body(k)["key"];
  EXPECT_EQ(key.rfind("tskey-auth-", 0), 0u);
  EXPECT_EQ(body(k)["reusable"], true);
  Client a = joined(key, "a");
  auto nodes = server_->handleAdmin("GET", "/admin/nodes", "");
  ASSERT_EQ(nodes.status, 200);
  auto list = body(nodes);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "a");
  EXPECT_EQ(list[0]["nodeKey"], a.nodeKey.toString());
  EXPECT_EQ(list[0]["addresses"][0], "100.64.0.1");
  EXPECT_EQ(list[0]["online"], false);
  EXPECT_EQ(list[0]["machineAuthorized"], true);
  EXPECT_TRUE(list[0]["lastSeen"].is_null());
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/keys", "[1]").status, 400);
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/keys", R"({"reusable":"yes"})").status, 400);
  EXPECT_EQ(server_->handleAdmin("GET", "/admin/keys", "").status, 405);
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/nodes/99/approve", "").status, 404);
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/nodes/x/approve", "").status, 400);
  EXPECT_EQ(server_->handleAdmin("GET", "/nope", "").status, 404);
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/synthetic", R"({"add":3})").status, 200);
  EXPECT_EQ(server_->nodeCount(), 4u);
  EXPECT_EQ(server_->handleAdmin("DELETE", "/admin/nodes/1", "").status, 200);
  EXPECT_EQ(server_->nodeCount(), 3u);
  EXPECT_EQ(body(server_->handleAdmin("GET", "/admin/auth-urls", "")).size(), 0u);
}

TEST_F(ControlServerTest, DuplicateHostnamesGetDistinctNames) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "Web Server");
  Client b = joined(key, "web-server");
  Client c = joined(key, "");
  EXPECT_EQ(server_->nodeByKey(a.nodeKey)->name, "web-server.tailnet.test.");
  EXPECT_EQ(server_->nodeByKey(b.nodeKey)->name, "web-server-1.tailnet.test.");
  EXPECT_EQ(server_->nodeByKey(c.nodeKey)->name, "node-3.tailnet.test.");
}

}  // namespace
}  // namespace tnet::testcontrol

namespace tnet::testcontrol {
namespace {

// Hostile bodies: truncations and byte flips of valid requests, deep nesting, wrong kinds.
// Every one gets an answer (an error or a Go-shaped response) and nothing crashes or leaks.
TEST_F(ControlServerTest, HostileRequestBodiesNeverCrash) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  auto sa = stream(a);
  controld::RegisterRequest r;
  r.nodeKey = a.nodeKey;
  r.authKey = key;
  r.hostinfo.hostname = "a";
  r.hostinfo.netInfo = controld::NetInfo{};
  std::string reg(controld::registerRequestJson(r).view());
  controld::MapRequest m;
  m.nodeKey = a.nodeKey;
  m.hostinfo.hostname = "a";
  m.endpoints.push_back(*ipn::parseIpAddrPort("127.0.0.1:1"));
  m.endpointTypes.push_back(controld::EndpointType::LOCAL);
  std::string map = controld::mapRequestJson(controld::liteMapRequest(m));

  std::vector<std::string> bodies;
  for (const std::string& base : {reg, map}) {
    for (size_t cut = 0; cut < base.size(); cut += 7) bodies.push_back(base.substr(0, cut));
    uint32_t seed = 12345;
    for (int i = 0; i < 400; ++i) {
      std::string b = base;
      for (int k = 0; k < 3; ++k) {
        seed = seed * 1103515245 + 12345;
        b[(seed >> 8) % b.size()] = char(seed >> 16);
      }
      bodies.push_back(std::move(b));
    }
  }
  std::string deep(200000, '[');
  bodies.push_back(R"({"Hostinfo":{"Location":{"City":)" + deep + "}}}");
  bodies.push_back(R"({"Unknown":)" + deep + std::string(200000, ']') + "}");
  bodies.push_back(R"({"Hostinfo":{"Location":{"Latitude":"north"},"TPM":{"Model":1.5}}})");
  bodies.push_back(R"({"Endpoints":[5]})");

  size_t answered = 0;
  for (const std::string& b : bodies) {
    std::optional<HttpReply> reply;
    uint64_t w = server_->handleRegister(a.machine, b, [&](HttpReply h) { reply = h; });
    if (w != 0) server_->cancelRegister(w);
    answered += reply ? 1 : 0;
    uint64_t sid = 0;
    auto mr = server_->handleMap(a.machine, b, {}, &sid);
    if (!mr) server_->endSession(sid);
    server_->handleAdmin("POST", "/admin/keys", b);
    server_->handleAdmin("POST", "/admin/synthetic", b);
    server_->handleAdmin("POST", "/admin/filter", b);
  }
  EXPECT_GT(answered, bodies.size() / 2);
  // a's original stream survived it all (a may have been logged out by a mutated Expiry).
  EXPECT_TRUE(sa->messages.size() >= 1);
  EXPECT_EQ(server_->waiterCount(), 0u);
}

TEST_F(ControlServerTest, PendingLoginsAreBounded) {
  for (int i = 0; i < 4200; ++i) {
    Client c;
    wall_ += 1;
    EXPECT_NE(body(registerNode(c, std::nullopt))["AuthURL"], "");
  }
  EXPECT_LE(server_->pendingLoginsJson().size(), 4096u);
}

}  // namespace
}  // namespace tnet::testcontrol

namespace tnet::testcontrol {
namespace {

TEST_F(ControlServerTest, StateRoundTripKeepsTheTailnet) {
  std::string key = server_->createPreAuthKey(false, false);
  Client a = joined(key, "a");
  Client b;
  b.hostname = "b";
  std::string reusable = server_->createPreAuthKey(true, false);
  registerNode(b, reusable);
  ASSERT_TRUE(server_->addSyntheticPeers(3));
  ASSERT_TRUE(server_->expireNode(server_->nodeByKey(b.nodeKey)->id));
  uint64_t v = server_->stateVersion();
  auto saved = ipn::parseJson(ipn::goMarshal(server_->exportState()));
  ASSERT_TRUE(saved);

  make(false);  // a restarted server
  ASSERT_TRUE(server_->importState(*saved));
  EXPECT_EQ(server_->nodeCount(), 5u);
  const NodeRecord* na = server_->nodeByKey(a.nodeKey);
  ASSERT_NE(na, nullptr);
  EXPECT_EQ(na->name, "a.tailnet.test.");
  EXPECT_EQ(na->addresses.v4.toString(), "100.64.0.1/32");
  EXPECT_FALSE(na->online);
  EXPECT_TRUE(server_->nodeByKey(b.nodeKey)->keyExpiry.has_value());
  // The one-off key stays used, the reusable one works, and allocation continues after the
  // saved position (no address handed out twice).
  Client c;
  EXPECT_EQ(body(registerNode(c, key))["Error"], "authkey already used");
  c.hostname = "a";
  EXPECT_EQ(body(registerNode(c, reusable))["Error"], "");
  EXPECT_EQ(server_->nodeByKey(c.nodeKey)->addresses.v4.toString(), "100.64.0.6/32");
  EXPECT_EQ(server_->nodeByKey(c.nodeKey)->id, 6);
  EXPECT_EQ(server_->nodeByKey(c.nodeKey)->name, "a-1.tailnet.test.");
  // a polls again with its old key: it is known, its map has everyone.
  auto sa = stream(a);
  EXPECT_EQ(sa->nm().peers.size(), 5u);
  EXPECT_GT(server_->stateVersion(), 0u);
  (void)v;
  // A second import, or garbage, is refused.
  EXPECT_FALSE(server_->importState(*saved));
  make(false);
  EXPECT_FALSE(server_->importState(ipn::Json::array()));
  EXPECT_FALSE(server_->importState(*ipn::parseJson(R"({"version":1})")));
  auto broken = *saved;
  broken["nodes"][0]["nodeKey"] = "nodekey:zz";
  EXPECT_FALSE(server_->importState(broken));
  EXPECT_EQ(server_->nodeCount(), 0u);
}

}  // namespace
}  // namespace tnet::testcontrol

namespace tnet::testcontrol {
namespace {

TEST_F(ControlServerTest, PingRequestsAndTheirAnswers) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  int64_t id = server_->nodeByKey(a.nodeKey)->id;
  EXPECT_FALSE(server_->sendPing(id, true));  // no stream yet
  auto sa = stream(a);
  auto r = server_->handleAdmin("POST", "/admin/nodes/" + std::to_string(id) + "/ping", R"({"noise":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string token = body(r)["token"];
  ASSERT_TRUE(sa->last().pingRequest);
  EXPECT_EQ(sa->last().pingRequest->url, "http://127.0.0.1:1234/ping/" + token);
  EXPECT_TRUE(sa->last().pingRequest->urlIsNoise);
  EXPECT_EQ(body(server_->handleAdmin("GET", "/admin/pings/" + token, ""))["answers"], 0);
  EXPECT_TRUE(server_->answerPing(token, true));
  auto st = body(server_->handleAdmin("GET", "/admin/pings/" + token, ""));
  EXPECT_EQ(st["answers"], 1);
  EXPECT_EQ(st["answeredOverNoise"], true);
  // The plain-HTTP form of the URL answers too; unknown tokens are 404.
  EXPECT_EQ(server_->handleAdmin("HEAD", "/ping/" + token, "").status, 200);
  EXPECT_EQ(server_->handleAdmin("HEAD", "/ping/nope", "").status, 404);
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/nodes/99/ping", "").status, 404);
}

}  // namespace
}  // namespace tnet::testcontrol

namespace tnet::testcontrol {
namespace {

TEST_F(ControlServerTest, AdminFilterIsPushedToEveryStream) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  Client b = joined(key, "b");
  auto sa = stream(a, true);
  auto sb = stream(b);
  size_t beforeA = sa->messages.size(), beforeB = sb->messages.size();
  const std::string allowAll =
      R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}])";
  EXPECT_EQ(server_->handleAdmin("GET", "/admin/filter", "").body, allowAll + "\n");

  // Only b (100.64.0.2) may reach a (100.64.0.1), TCP port 22 and any UDP.
  auto r = server_->handleAdmin(
      "POST", "/admin/filter",
      R"([{"SrcIPs":["100.64.0.2"],"DstPorts":[{"IP":"100.64.0.1","Ports":{"First":22,"Last":22}}],"IPProto":[6]},)"
      R"({"srcips":["100.64.0.2"],"dstports":[{"ip":"100.64.0.1","ports":{"first":0,"last":65535}}],"ipproto":[17]}])");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r), nlohmann::json::parse(R"({"ok":true,"rules":2})"));
  const std::string want =
      R"([{"SrcIPs":["100.64.0.2"],"DstPorts":[{"IP":"100.64.0.1","Ports":{"First":22,"Last":22}}],"IPProto":[6]},)"
      R"({"SrcIPs":["100.64.0.2"],"DstPorts":[{"IP":"100.64.0.1","Ports":{"First":0,"Last":65535}}],"IPProto":[17]}])";
  for (auto* s : {sa.get(), sb.get()}) {
    ASSERT_EQ(s->messages.size(), (s == sa.get() ? beforeA : beforeB) + 1);
    EXPECT_EQ(s->raw.back(), R"({"PacketFilter":)" + want + "}");
    EXPECT_TRUE(s->nm().packetFilterKnown);
    ASSERT_EQ(s->nm().packetFilter.size(), 2u);
    EXPECT_EQ(s->nm().packetFilter[1].ipProto, std::vector<int>{17});
    EXPECT_EQ(s->nm().peers.size(), 1u);  // a filter-only message changes nothing else
  }
  EXPECT_EQ(server_->handleAdmin("GET", "/admin/filter", "").body, want + "\n");
  // A node that starts streaming afterwards gets it in its full map.
  Client c = joined(key, "c");
  auto sc = stream(c);
  EXPECT_NE(sc->raw.front().find(R"("PacketFilter":)" + want), std::string::npos);

  // A bad filter is a 400 that changes and pushes nothing.
  size_t now = sa->messages.size();
  auto bad = server_->handleAdmin("POST", "/admin/filter",
                                  R"([{"SrcIPs":["100.64.0.999"],"DstPorts":[{"IP":"*"}]}])");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.contentType, "application/json");
  EXPECT_NE(body(bad)["error"].get<std::string>().find("bad filter: FilterRule[0].SrcIPs[0]"),
            std::string::npos)
      << bad.body;
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/filter", "{").status, 400);
  EXPECT_EQ(server_->handleAdmin("POST", "/admin/filter", "").status, 400);
  EXPECT_EQ(server_->handleAdmin("PUT", "/admin/filter", "[]").status, 405);
  EXPECT_EQ(sa->messages.size(), now);
  EXPECT_EQ(server_->handleAdmin("GET", "/admin/filter", "").body, want + "\n");

  // [] denies everything (a known, empty filter); DELETE restores Go's FilterAllowAll.
  ASSERT_EQ(server_->handleAdmin("POST", "/admin/filter", "[]").status, 200);
  EXPECT_EQ(sb->raw.back(), R"({"PacketFilter":[]})");
  EXPECT_TRUE(sb->nm().packetFilterKnown);
  EXPECT_TRUE(sb->nm().packetFilter.empty());
  auto del = server_->handleAdmin("DELETE", "/admin/filter", "");
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(body(del)["ok"], true);
  for (auto* s : {sa.get(), sb.get(), sc.get()}) {
    EXPECT_EQ(s->raw.back(), R"({"PacketFilter":)" + allowAll + "}");
    ASSERT_EQ(s->nm().packetFilter.size(), 1u);
    EXPECT_EQ(s->nm().packetFilter[0].srcIps, std::vector<std::string>{"*"});
  }
}

TEST_F(ControlServerTest, AdminFilterSurvivesStateRoundTrip) {
  std::string key = server_->createPreAuthKey(true, false);
  Client a = joined(key, "a");
  uint64_t v = server_->stateVersion();
  const std::string rule =
      R"([{"SrcIPs":["100.64.0.0/10"],"DstPorts":[{"IP":"*","Ports":{"First":80,"Last":80}}]}])";
  ASSERT_EQ(server_->handleAdmin("POST", "/admin/filter", rule).status, 200);
  EXPECT_GT(server_->stateVersion(), v);  // worth saving
  auto saved = ipn::parseJson(ipn::goMarshal(server_->exportState()));
  ASSERT_TRUE(saved);
  make(false);
  ASSERT_TRUE(server_->importState(*saved));
  EXPECT_EQ(server_->handleAdmin("GET", "/admin/filter", "").body, rule + "\n");
  auto sa = stream(a);
  ASSERT_EQ(sa->nm().packetFilter.size(), 1u);
  EXPECT_EQ(sa->nm().packetFilter[0].dstPorts[0].first, 80);
  // A saved filter that does not parse is refused with the reason.
  make(false);
  auto broken = *saved;
  broken["packetFilter"] = "[{}]";
  auto r = server_->importState(broken);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("state: packetFilter: FilterRule[0].SrcIPs"), std::string::npos);
  // Files without the member (allow-all) still load.
  make(false);
  broken.erase("packetFilter");
  ASSERT_TRUE(server_->importState(broken));
  EXPECT_EQ(server_->handleAdmin("GET", "/admin/filter", "").body,
            R"([{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":0,"Last":65535}}]}])"
            "\n");
}

}  // namespace
}  // namespace tnet::testcontrol
