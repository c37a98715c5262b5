// Issue 4's acceptance on a real tailnet: testcontrol on loopback, real suites joining it with
// `tnet up`, everything observed through `tnet` and the LocalAPI as a user would.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/tailnet/tailnet_fixture.h"

namespace tnet::tailnet_test {
namespace {

class TailnetControl : public ::testing::Test {
 protected:
  void SetUp() override {
    auto missing = Tailnet::missing();
    if (!missing.empty()) GTEST_SKIP() << missing;
    auto started = net_.start();
    ASSERT_TRUE(started) << started.error().message;
  }
  void TearDown() override {
    EXPECT_EQ(net_.logs().find("killed by seccomp"), std::string::npos) << "a service hit its seccomp allow-list";
    if (HasFailure()) std::cerr << net_.logs();
  }

  Node* join(const std::string& name, const std::string& key) {
    auto node = net_.addNode(name);
    EXPECT_TRUE(node) << node.error().message;
    if (!node) return nullptr;
    auto up = net_.up(**node, key);
    EXPECT_EQ(up.exitCode, 0) << "tnet up failed:\n" << up.out << up.err;
    return *node;
  }

  std::string key() {
    auto k = net_.newAuthKey();
    EXPECT_TRUE(k) << k.error().message;
    return k ? *k : "";
  }

  Tailnet net_;
};

TEST_F(TailnetControl, PreAuthKeyJoinShowsAddressHostnameAndPeersComeAndGo) {
  std::string k = key();
  Node* a = join("a", k);
  ASSERT_NE(a, nullptr);
  auto s = a->status();
  ASSERT_FALSE(s.is_discarded());
  EXPECT_EQ(s["BackendState"], "Running") << s.dump(2);
  EXPECT_EQ(s["Self"]["HostName"], "a");
  ASSERT_TRUE(s["Self"]["TailscaleIPs"].is_array()) << s.dump(2);
  bool have100 = false;
  for (const auto& ip : s["Self"]["TailscaleIPs"]) {
    if (ip.get<std::string>().rfind("100.", 0) == 0) have100 = true;
  }
  EXPECT_TRUE(have100) << s["Self"].dump(2);
  auto json = a->tnet({"status", "--json"});
  ASSERT_EQ(json.exitCode, 0) << json.err;
  auto parsed = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << json.out;
  EXPECT_EQ(parsed["Self"]["HostName"], "a");

  Node* b = join("b", k);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(waitUntil([&] { return hasPeer(a->status(), "b"); }, 2s)) << a->status().dump(2);
  EXPECT_TRUE(waitUntil([&] { return hasPeer(b->status(), "a"); }, 2s)) << b->status().dump(2);
  // Plain `tnet status` lists the peer by name.
  auto table = a->tnet({"status"});
  EXPECT_EQ(table.exitCode, 0) << table.err;
  EXPECT_NE(table.out.find(" b "), std::string::npos) << table.out;

  auto out = b->tnet({"logout"});
  EXPECT_EQ(out.exitCode, 0) << out.out << out.err;
  EXPECT_TRUE(waitUntil([&] { return !hasPeer(a->status(), "b"); }, 2s)) << a->status().dump(2);
  EXPECT_EQ(b->backendState(), "NeedsLogin");
}

TEST_F(TailnetControl, InteractiveLoginPrintsUrlAndApprovalReachesRunning) {
  auto node = net_.addNode("i");
  ASSERT_TRUE(node) << node.error().message;
  Node* n = *node;
  ProcessResult up;
  std::thread t([&] { up = net_.up(*n, ""); });
  std::string authUrl;
  bool gotUrl = waitUntil(
      [&] {
        auto s = n->status();
        if (s.is_discarded() || !s.contains("AuthURL")) return false;
        authUrl = s["AuthURL"].get<std::string>();
        return !authUrl.empty();
      },
      15s);
  if (!gotUrl) {
    t.join();
    FAIL() << "no AuthURL in status; tnet up said:\n" << up.out << up.err;
  }
  EXPECT_EQ(n->backendState(), "NeedsLogin");
  // The user "visits" the URL: testcontrol approves a login when its auth URL is fetched.
  auto pathStart = authUrl.find('/', authUrl.find("//") + 2);
  auto visit = httpRequest("127.0.0.1", net_.control().port(), "GET", authUrl.substr(pathStart));
  ASSERT_TRUE(visit) << visit.error().message;
  EXPECT_EQ(visit->status, 200) << visit->body;
  t.join();
  EXPECT_EQ(up.exitCode, 0) << up.out << up.err;
  // Go's `tailscale up` prints the URL on stderr.
  EXPECT_NE(up.err.find("To authenticate, visit:"), std::string::npos) << up.out << up.err;
  EXPECT_NE(up.err.find(authUrl), std::string::npos) << up.out << up.err;
  EXPECT_EQ(n->backendState(), "Running");
}

TEST_F(TailnetControl, ForceReauthRegistersANewNodeKeyAndKeepsPrefs) {
  std::string k = key();
  Node* a = join("fr", k);
  ASSERT_NE(a, nullptr);
  std::string before = a->publicKey();
  ASSERT_EQ(before.rfind("nodekey:", 0), 0u) << before;
  auto up = net_.up(*a, k, {"--force-reauth"});
  ASSERT_EQ(up.exitCode, 0) << up.out << up.err;
  std::string after = a->publicKey();
  EXPECT_EQ(after.rfind("nodekey:", 0), 0u) << after;
  EXPECT_NE(after, before);
  EXPECT_EQ(a->backendState(), "Running");
  EXPECT_EQ(a->status()["Self"]["HostName"], "fr");
}

TEST_F(TailnetControl, RestartResumesWithPersistedKeysAndNoAuthKey) {
  Node* a = join("r", key());
  ASSERT_NE(a, nullptr);
  std::string pk = a->publicKey();
  auto ips = a->status()["Self"]["TailscaleIPs"];
  auto restarted = net_.restartNode(*a);
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_TRUE(waitUntil([&] { return a->backendState() == "Running"; }, 10s)) << a->status().dump(2);
  EXPECT_EQ(a->publicKey(), pk);
  EXPECT_EQ(a->status()["Self"]["TailscaleIPs"], ips);
}


TEST_F(TailnetControl, ControlServerRestartMidStreamRecoversTheNetmap) {
  // A second control server with a state file, so a restart keeps the tailnet (as a real one does).
  TempDir dir("tnet-tc-state");
  FixtureOptions o;
  o.args = {"--listen", "127.0.0.1:0", "--state", dir / "control.json"};
  if (net_.derp()) {
    o.args.insert(o.args.end(), {"--derp-url", net_.derp()->url()});
    if (net_.derp()->info().contains("stunPort")) {
      o.args.insert(o.args.end(), {"--derp-stun-port", std::to_string(net_.derp()->info()["stunPort"].get<int>())});
    }
  }
  Fixture control("testcontrol", o);
  ASSERT_TRUE(control.start());
  auto keyReply = httpRequest("127.0.0.1", control.port(), "POST", "/admin/keys", R"({"reusable":true})");
  ASSERT_TRUE(keyReply && keyReply->status == 200);
  std::string k = keyReply->json()["key"];
  std::string url = control.url();
  auto upAt = [&](Node& n) {
    return n.tnet({"up", "--login-server", url, "--auth-key", k, "--hostname", n.name, "--timeout", "30s"}, 40s);
  };
  auto a = net_.addNode("ra");
  ASSERT_TRUE(a);
  ASSERT_EQ(upAt(**a).exitCode, 0);

  // Restart on the same port, mid-stream.
  control.options().args[1] = "127.0.0.1:" + std::to_string(control.port());
  control.stop();
  ASSERT_TRUE(control.start());
  ASSERT_EQ(control.url(), url);
  auto b = net_.addNode("rb");
  ASSERT_TRUE(b);
  auto up = upAt(**b);
  ASSERT_EQ(up.exitCode, 0) << up.out << up.err;
  // A's map poll came back by itself (backoff) and shows the newcomer.
  EXPECT_TRUE(waitUntil([&] { return hasPeer((*a)->status(), "rb"); }, 15s)) << (*a)->status().dump(2)
                                                                            << control.output();
  EXPECT_EQ((*a)->backendState(), "Running");
}

TEST_F(TailnetControl, NetcheckReportsTheTestDerpRegionAndTheStunMappedEndpoint) {
  if (net_.derp() == nullptr) GTEST_SKIP() << "testderp is not built";
  Node* a = join("nc", key());
  ASSERT_NE(a, nullptr);
  auto out = a->tnet({"netcheck"});
  ASSERT_EQ(out.exitCode, 0) << out.out << out.err;
  EXPECT_NE(out.out.find("\t* UDP: true\n"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("\t* IPv4: yes, 127.0.0.1:"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("\t* Nearest DERP: Test Region\n"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("\t\t- test: "), std::string::npos) << out.out;
  auto json = a->tnet({"netcheck", "--format", "json"});
  ASSERT_EQ(json.exitCode, 0) << json.err;
  auto j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json.out;
  EXPECT_EQ(j["PreferredDERP"], 900) << json.out;
  EXPECT_TRUE(j["RegionLatency"].contains("900")) << json.out;
}

}  // namespace
}  // namespace tnet::tailnet_test
