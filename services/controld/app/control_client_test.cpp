// ControlClient against a real ts2021 server on loopback (libs/net Ts2021Server: real /key,
// Noise and HTTP/2), scripted per test: login flows, the map poll, lite updates, logout, and
// hostile control input (truncated frames, oversized frames, non-JSON, schema violations, a
// stalled stream, a dropped connection).
#include "services/controld/app/control_client.h"

#include <gtest/gtest.h>

#include "libs/bus/bus_test_util.h"
#include "libs/bus/loop.h"
#include "services/controld/app/scripted_control.h"

namespace tnet::controld {
namespace {

using namespace std::chrono_literals;
using bus::testing::runUntil;
using testing::ScriptedControl;

struct Harness {
  Harness() : control(loop) {}

  void makeClient(ControlClientOptions opts = {}) {
    opts.backoffInitial = 20ms;
    opts.backoffMax = 200ms;
    ControlClientSink sink;
    sink.onStatus = [this](const ControlStatusValue& s) { statuses.push_back(s); };
    sink.onNetmap = [this](const NetworkMap& nm, uint64_t gen) {
      netmap = nm;
      generation = gen;
      ++netmaps;
    };
    sink.onHealth = [this](ClientHealth h, const std::string& m) {
      health = h;
      healthMessage = m;
    };
    client = std::make_unique<ControlClient>(loop, key::MachinePrivate::generate(), opts, std::move(sink));
  }

  Result<LoginResult> login(LoginInput in) {
    std::optional<Result<LoginResult>> out;
    client->login(std::move(in), [&](Result<LoginResult> r) { out = std::move(r); });
    EXPECT_TRUE(runUntil(loop, [&] { return out.has_value(); }, 10000ms));
    return out ? std::move(*out) : Result<LoginResult>(Error::failed("no answer"));
  }

  LoginInput loginInput(const std::string& authKey = "tskey-auth-secret") {
    LoginInput in;
    in.controlUrl = control.url();
    in.authKey = crypto::SecretString(authKey);
    in.nodePublic = node;
    in.hostinfoJson = R"({"OS":"linux","Hostname":"a","IPNVersion":"1.0"})";
    return in;
  }

  ConfigInput config(uint64_t n) {
    ConfigInput c;
    c.generationEpoch = 7;
    c.generationN = n;
    c.controlUrl = control.url();
    c.wantRunning = true;
    c.nodePublic = node;
    c.discoPublic = disco;
    c.hostinfoJson = R"({"OS":"linux","Hostname":"a"})";
    return c;
  }

  const ControlStatusValue& status() const { return client->status(); }

  bus::Loop loop;
  ScriptedControl control;
  std::unique_ptr<ControlClient> client;
  std::vector<ControlStatusValue> statuses;
  std::optional<NetworkMap> netmap;
  uint64_t generation = 0;
  int netmaps = 0;
  ClientHealth health = ClientHealth::OK;
  std::string healthMessage;
  key::NodePublic node = key::NodePrivate::generate().publicKey();
  key::DiscoPublic disco = key::DiscoPrivate::generate().publicKey();
};

bool isLite(const nlohmann::json& j) { return j.is_object() && !j.value("Stream", false) && j.value("OmitPeers", false); }

TEST(ControlClient, PreAuthKeyLoginRegistersAndDropsTheKey) {
  Harness h;
  h.makeClient();
  auto r = h.login(h.loginInput());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->registered);
  EXPECT_TRUE(r->machineAuthorized);
  EXPECT_EQ(r->loginName, "a@example.com");
  EXPECT_EQ(r->userId, 1);
  EXPECT_TRUE(r->authUrl.empty());

  ASSERT_EQ(h.control.count("/machine/register"), 1u);
  const auto& req = h.control.requests().front().body;
  EXPECT_EQ(req["NodeKey"], h.node.toString());
  EXPECT_EQ(req["Auth"]["AuthKey"], "tskey-auth-secret");
  EXPECT_EQ(req["Version"], 116);
  EXPECT_EQ(req["Hostinfo"]["Hostname"], "a");
  EXPECT_EQ(req["Expiry"], "0001-01-01T00:00:00Z");
  EXPECT_EQ(h.control.requests().front().machinePublic, h.status().machinePublic);

  EXPECT_EQ(h.status().loggedInNodePublic, h.node.toString());
  EXPECT_EQ(h.status().loginFinishedCount, 1u);
  EXPECT_EQ(h.status().phase, Phase::LOGGED_IN);
  EXPECT_TRUE(h.status().machineAuthorized);
  // Nothing polls before setConfig says wantRunning with both keys.
  EXPECT_EQ(h.control.count("/machine/map"), 0u);
}

TEST(ControlClient, InteractiveLoginWaitsOnTheFollowupUntilApproved) {
  Harness h;
  std::shared_ptr<net::H2ResponseWriter> held;
  const std::string authUrl = "http://127.0.0.1/a/12345";
  h.control.onRegister = [&](const nlohmann::json& req, std::shared_ptr<net::H2ResponseWriter> w) {
    if (req.value("Followup", "").empty()) {
      w->respond(200, {}, R"({"AuthURL":")" + authUrl + R"("})");
    } else {
      held = w;  // the long-poll: answered when the test "approves"
    }
  };
  h.makeClient();
  auto r = h.login(h.loginInput(""));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->registered);
  EXPECT_EQ(r->authUrl, authUrl);
  ASSERT_TRUE(runUntil(h.loop, [&] { return held != nullptr; }));
  EXPECT_EQ(h.status().phase, Phase::WAITING_FOR_AUTH);
  EXPECT_EQ(h.status().authUrl, authUrl);
  EXPECT_EQ(h.status().loginFinishedCount, 0u);
  const auto& first = h.control.requests()[0].body;
  const auto& followup = h.control.requests()[1].body;
  EXPECT_FALSE(first.contains("Auth"));
  EXPECT_EQ(followup["Followup"], authUrl);
  EXPECT_EQ(followup["NodeKey"], h.node.toString());

  held->respond(200, {}, R"({"MachineAuthorized":false,"User":{"ID":9},"Login":{"ID":9,"LoginName":"u@x"}})");
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.status().loginFinishedCount == 1; }));
  EXPECT_EQ(h.status().phase, Phase::LOGGED_IN);
  EXPECT_EQ(h.status().loggedInNodePublic, h.node.toString());
  EXPECT_FALSE(h.status().machineAuthorized);  // Go: logged in, awaiting approval
  EXPECT_TRUE(h.status().authUrl.empty());
  EXPECT_EQ(h.status().userId, 9);
}

TEST(ControlClient, ControlErrorsReachTheUser) {
  Harness h;
  h.control.onRegister = [](const nlohmann::json&, std::shared_ptr<net::H2ResponseWriter> w) {
    w->respond(200, {}, R"({"Error":"invalid key: unable to validate API key"})");
  };
  h.makeClient();
  auto r = h.login(h.loginInput("tskey-bad"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->registered);
  EXPECT_EQ(r->error, "invalid key: unable to validate API key");
  EXPECT_EQ(h.status().lastError, "invalid key: unable to validate API key");
  EXPECT_EQ(h.status().loginFinishedCount, 0u);

  h.control.onRegister = [](const nlohmann::json&, std::shared_ptr<net::H2ResponseWriter> w) {
    w->respond(500, {}, "database on fire\n");
  };
  auto r2 = h.login(h.loginInput());
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("HTTP 500"), std::string::npos) << r2.error().message;
  EXPECT_NE(r2.error().message.find("database on fire"), std::string::npos);

  h.control.onRegister = [](const nlohmann::json&, std::shared_ptr<net::H2ResponseWriter> w) {
    w->respond(200, {}, R"({"NodeKeyExpired":true})");
  };
  auto r3 = h.login(h.loginInput());
  ASSERT_TRUE(r3);
  EXPECT_TRUE(r3->nodeKeyExpired);
  EXPECT_TRUE(h.status().nodeKeyExpired);
}

TEST(ControlClient, UnreachableControlFailsLoginAndDegradesHealth) {
  bus::Loop loop;
  ControlClientOptions opts;
  ClientHealth health = ClientHealth::OK;
  std::string message;
  ControlClientSink sink;
  sink.onHealth = [&](ClientHealth h, const std::string& m) {
    health = h;
    message = m;
  };
  ControlClient client(loop, key::MachinePrivate::generate(), opts, sink);
  LoginInput in;
  in.controlUrl = "http://127.0.0.1:9";  // closed
  in.nodePublic = key::NodePrivate::generate().publicKey();
  std::optional<Result<LoginResult>> out;
  client.login(std::move(in), [&](Result<LoginResult> r) { out = std::move(r); });
  ASSERT_TRUE(runUntil(loop, [&] { return out.has_value(); }, 15000ms));
  ASSERT_FALSE(*out);
  EXPECT_EQ(out->error().kind, ErrorKind::DISCONNECTED);
  EXPECT_EQ(health, ClientHealth::DEGRADED);
  EXPECT_NE(message.find("control unreachable"), std::string::npos) << message;
  EXPECT_FALSE(client.status().lastError.empty());
}

TEST(ControlClient, MapPollStartsOnlyWithBothKeysAndPublishesNetmaps) {
  Harness h;
  h.makeClient();
  ASSERT_TRUE(h.login(h.loginInput()));

  auto noDisco = h.config(1);
  noDisco.discoPublic = {};
  ASSERT_TRUE(h.client->setConfig(noDisco));
  h.loop.runFor(100ms);
  EXPECT_EQ(h.control.count("/machine/map"), 0u);
  EXPECT_FALSE(h.client->pollRunning());

  auto applied = h.client->setConfig(h.config(2));
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->second, 2u);
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.netmaps >= 1; }, 5000ms));
  EXPECT_EQ(h.generation, 1u);
  ASSERT_TRUE(h.netmap);
  EXPECT_EQ(h.netmap->self.key, h.node);
  ASSERT_EQ(h.netmap->peers.size(), 1u);
  EXPECT_EQ(h.netmap->peers[0].id, 100);
  EXPECT_EQ(h.status().phase, Phase::MAP_POLLING);
  EXPECT_TRUE(h.status().mapConnected);

  // The streaming request is read-only; a lite update carries Hostinfo/DiscoKey.
  auto streaming = [](const nlohmann::json& j) { return j.value("Stream", false); };
  ASSERT_EQ(h.control.count("/machine/map", streaming), 1u);
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.control.count("/machine/map", isLite) >= 1; }));
  for (const auto& r : h.control.requests()) {
    if (r.path != "/machine/map") continue;
    EXPECT_EQ(r.body["NodeKey"], h.node.toString());
    EXPECT_EQ(r.body["DiscoKey"], h.disco.toString());
    if (streaming(r.body)) {
      EXPECT_EQ(r.body["Compress"], "zstd");
      EXPECT_EQ(r.body["KeepAlive"], true);
    }
  }

  // A delta: one more peer, one keep-alive (no change), then the peer removed.
  h.control.lastMapStream()->write(ScriptedControl::frame(R"({"PeersChanged":[)" + ScriptedControl::peerJson(101) + "]}"));
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.generation == 2; }));
  EXPECT_EQ(h.netmap->peers.size(), 2u);
  h.control.lastMapStream()->write(ScriptedControl::frame(R"({"KeepAlive":true})"));
  h.control.lastMapStream()->write(ScriptedControl::frame(R"({"PeersRemoved":[100]})"));
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.generation == 3; }));
  ASSERT_EQ(h.netmap->peers.size(), 1u);
  EXPECT_EQ(h.netmap->peers[0].id, 101);

  // Endpoints changed: one more lite update with them, no new stream.
  size_t lites = h.control.count("/machine/map", isLite);
  auto c3 = h.config(3);
  c3.endpoints = {*ipn::parseIpAddrPort("192.0.2.1:41641"), *ipn::parseIpAddrPort("[2001:db8::1]:41641")};
  c3.endpointTypes = {EndpointType::STUN, EndpointType::LOCAL};
  c3.preferredDerp = 1;
  ASSERT_TRUE(h.client->setConfig(c3));
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.control.count("/machine/map", isLite) == lites + 1; }));
  const auto& lite = h.control.requests().back().body;
  EXPECT_EQ(lite["Endpoints"], nlohmann::json({"192.0.2.1:41641", "[2001:db8::1]:41641"}));
  EXPECT_EQ(lite["EndpointTypes"], nlohmann::json({2, 1}));
  EXPECT_EQ(lite["Hostinfo"]["NetInfo"]["PreferredDERP"], 1);
  EXPECT_EQ(h.control.count("/machine/map", streaming), 1u);

  // A stale generation changes nothing.
  auto stale = h.config(1);
  stale.wantRunning = false;
  auto ack = h.client->setConfig(stale);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->second, 3u);
  EXPECT_TRUE(h.client->pollRunning());

  // A new committed node key restarts the poll with it.
  h.node = key::NodePrivate::generate().publicKey();
  ASSERT_TRUE(h.client->setConfig(h.config(4)));
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.control.count("/machine/map", streaming) == 2; }));
  EXPECT_EQ(h.control.lastMapStream() != nullptr, true);
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.netmap->self.key == h.node; }));
  EXPECT_GT(h.generation, 3u);  // generations keep rising across map sessions

  // wantRunning false stops polling.
  auto off = h.config(5);
  off.wantRunning = false;
  ASSERT_TRUE(h.client->setConfig(off));
  EXPECT_FALSE(h.client->pollRunning());
  EXPECT_FALSE(h.status().mapConnected);
  EXPECT_EQ(h.status().phase, Phase::LOGGED_IN);
}

TEST(ControlClient, LogoutSendsAPastExpiryAndStopsPolling) {
  Harness h;
  h.makeClient();
  ASSERT_TRUE(h.login(h.loginInput()));
  ASSERT_TRUE(h.client->setConfig(h.config(1)));
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.netmaps >= 1; }, 5000ms));
  std::optional<Result<void>> out;
  h.client->logout(h.control.url(), h.node, [&](Result<void> r) { out = std::move(r); });
  ASSERT_TRUE(runUntil(h.loop, [&] { return out.has_value(); }));
  ASSERT_TRUE(*out) << out->error().message;
  const auto& req = h.control.requests().back();
  EXPECT_EQ(req.path, "/machine/register");
  EXPECT_EQ(req.body["Expiry"], "1970-01-01T00:02:03Z");
  EXPECT_EQ(req.body["NodeKey"], h.node.toString());
  EXPECT_FALSE(req.body.contains("Auth"));
  EXPECT_FALSE(h.client->pollRunning());
  EXPECT_EQ(h.status().phase, Phase::IDLE);
  EXPECT_TRUE(h.status().loggedInNodePublic.empty());
  // A re-push of the logged-out key does not start a poll again.
  ASSERT_TRUE(h.client->setConfig(h.config(2)));
  EXPECT_FALSE(h.client->pollRunning());
}

// Hostile control input: each case must produce a user-visible error, a reconnect (a new map
// stream), and the netmap must recover.
struct HostileCase {
  const char* name;
  std::function<void(net::H2ResponseWriter&)> send;
  const char* errorPart;
  int failHttp = 0;  // the first map request is answered with this status instead
};

class HostileMap : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileMap, IsRejectedAndThePollReconnects) {
  const auto& hc = GetParam();
  Harness h;
  int streams = 0;
  h.control.onMap = [&](const nlohmann::json& req, std::shared_ptr<net::H2ResponseWriter> w) {
    if (++streams == 1) {
      hc.send(*w);
    } else {
      w->write(ScriptedControl::frame(ScriptedControl::selfMap(req.value("NodeKey", ""), 3)));
    }
  };
  if (hc.failHttp != 0) {
    h.control.mapFailStatus = hc.failHttp;
    streams = 1;
  }
  ControlClientOptions opts;
  opts.mapSilenceTimeout = 300ms;
  h.makeClient(opts);
  ASSERT_TRUE(h.login(h.loginInput()));
  ASSERT_TRUE(h.client->setConfig(h.config(1)));
  bool sawError = false;
  ASSERT_TRUE(runUntil(
      h.loop,
      [&] {
        for (const auto& s : h.statuses) {
          if (s.lastError.find(hc.errorPart) != std::string::npos && s.phase == Phase::RECONNECTING) sawError = true;
        }
        return sawError && h.netmaps >= 1;
      },
      8000ms))
      << "errors seen: " << [&] {
           std::string all;
           for (const auto& s : h.statuses) all += s.lastError + " | ";
           return all;
         }();
  EXPECT_GE(streams, 2);
  ASSERT_TRUE(h.netmap);
  EXPECT_EQ(h.netmap->peers.size(), 3u);
  EXPECT_EQ(h.status().phase, Phase::MAP_POLLING);
  EXPECT_TRUE(h.status().lastError.empty());
}

std::string rawFrameHeader(uint32_t len) {
  std::string out(4, '\0');
  putU32LE(reinterpret_cast<uint8_t*>(out.data()), len);
  return out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HostileMap,
    ::testing::Values(
        HostileCase{"Truncated",
                    [](net::H2ResponseWriter& w) {
                      w.write(ScriptedControl::frame(ScriptedControl::selfMap("nodekey:" + std::string(64, '1')))
                                  .substr(0, 30));
                      w.end();
                    },
                    "ended inside a frame"},
        HostileCase{"HundredMegabyteFrame",
                    [](net::H2ResponseWriter& w) { w.write(rawFrameHeader(100u << 20) + "xxxx"); },
                    "exceeds the limit"},
        HostileCase{"ZeroLengthFrame", [](net::H2ResponseWriter& w) { w.write(rawFrameHeader(0)); }, "map stream"},
        HostileCase{"NotZstd", [](net::H2ResponseWriter& w) { w.write(rawFrameHeader(5) + "hello"); }, "map stream"},
        HostileCase{"NonJson",
                    [](net::H2ResponseWriter& w) { w.write(ScriptedControl::frame("this is not json")); },
                    "map response"},
        HostileCase{"SchemaViolation",
                    [](net::H2ResponseWriter& w) { w.write(ScriptedControl::frame(R"({"Peers":"nope"})")); },
                    "map response"},
        HostileCase{"FirstMapWithoutNode",
                    [](net::H2ResponseWriter& w) {
                      w.write(ScriptedControl::frame(R"({"Peers":[)" + ScriptedControl::peerJson(5) + "]}"));
                    },
                    "lacked node"},
        HostileCase{"Stall", [](net::H2ResponseWriter&) {}, "no message from control"},
        HostileCase{"EndsCleanly", [](net::H2ResponseWriter& w) { w.end(); }, "ended by control"},
        HostileCase{"Http500", [](net::H2ResponseWriter&) {}, "control answered HTTP 500: boom", 500}),
    [](const ::testing::TestParamInfo<HostileCase>& info) { return info.param.name; });

TEST(ControlClient, DroppedConnectionReconnectsAndTheNetmapRecovers) {
  Harness h;
  h.makeClient();
  ASSERT_TRUE(h.login(h.loginInput()));
  ASSERT_TRUE(h.client->setConfig(h.config(1)));
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.netmaps >= 1; }, 5000ms));
  uint64_t connId = h.control.requests().back().connId;
  ASSERT_TRUE(h.control.server().closeNoise(connId, /*graceful=*/false));
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.control.mapStreams() >= 2 && h.netmaps >= 2; }, 8000ms));
  EXPECT_EQ(h.status().phase, Phase::MAP_POLLING);
  // The new stream came over a new Noise connection.
  EXPECT_NE(h.control.requests().back().connId, connId);
  // GOAWAY (graceful) likewise.
  connId = h.control.requests().back().connId;
  ASSERT_TRUE(h.control.server().closeNoise(connId, /*graceful=*/true));
  ASSERT_TRUE(runUntil(h.loop, [&] { return h.control.mapStreams() >= 3 && h.netmaps >= 3; }, 8000ms));
}

TEST(ControlClient, AnswersNoisePingRequests) {
  Harness h;
  int pings = 0;
  h.makeClient();
  h.control.onMap = [&](const nlohmann::json& req, std::shared_ptr<net::H2ResponseWriter> w) {
    w->write(ScriptedControl::frame(ScriptedControl::selfMap(req.value("NodeKey", ""))));
    w->write(ScriptedControl::frame(R"({"KeepAlive":true,"PingRequest":{"URL":"https://unused/machine/ping/1","URLIsNoise":true}})"));
  };
  ASSERT_TRUE(h.login(h.loginInput()));
  ASSERT_TRUE(h.client->setConfig(h.config(1)));
  ASSERT_TRUE(runUntil(h.loop, [&] {
    pings = static_cast<int>(h.control.count("/machine/ping/1"));
    return pings >= 1;
  }, 5000ms));
  EXPECT_EQ(pings, 1);
}

}  // namespace
}  // namespace tnet::controld
