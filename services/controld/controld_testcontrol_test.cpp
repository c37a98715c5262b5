// Integration: the real controld binary against the real testcontrol binary
// (tests/integration/testcontrol), the test acting as ipnd on the bus. A pre-auth key from the
// admin API registers; the map poll delivers our addresses; peers added on the server reach
// controld.netmap within 2 s; an interactive login completes when the admin API approves it.
// The 10k-peer join prints start → netmap time, the 100-peer delta time and controld's PSS.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "services/controld/controld_test_util.h"
#include "tests/integration/harness/harness.h"

namespace tnet {
namespace {

using namespace std::chrono_literals;
using namespace controld::testing;

std::string adminKey(const harness::Fixture& tc, bool reusable) {
  auto r = harness::httpRequest("127.0.0.1", tc.port(), "POST", "/admin/keys",
                                std::string(R"({"reusable":)") + (reusable ? "true" : "false") + "}");
  EXPECT_TRUE(r) << r.error().message;
  if (!r) return "";
  EXPECT_EQ(r->status, 200) << r->body;
  return r->json().value("key", "");
}

Result<bus::Reply> login(Operator& op, const std::string& url, const std::string& node, const std::string& authKey) {
  return op.call("controld.login", [&](capnp::AnyPointer::Builder b) {
    auto p = b.initAs<schema::LoginParams>();
    p.setControlUrl(url);
    p.setAuthKey(authKey);
    p.setNodePublic(node);
    p.setInteractive(authKey.empty());
    std::string hi = R"({"OS":"linux","Hostname":"ctl-a","IPNVersion":"0.1.0"})";
    p.setHostinfoJson(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(hi.data()), hi.size()));
  });
}

uint64_t pssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Pss:", 0) == 0) return std::stoull(line.substr(4));
  }
  return 0;
}

TEST(ControldTestcontrol, PreAuthKeyJoinPeersAndInteractiveApproval) {
  harness::Fixture tc("testcontrol", {.args = {"--keepalive-seconds", "1"}});
  auto started = tc.start();
  if (!started) GTEST_SKIP() << started.error().message;
  bus::testing::TempRuntime rt;
  bus::Loop loop;
  std::string logFile = rt.path() + "/controld.log";
  ControldProcess proc(rt.path(), rt.path() + "/controld-state", logFile);
  Operator op(loop, rt.path());
  ASSERT_TRUE(runUntil(loop, [&] { return !op.statuses.empty(); }, 5000ms)) << readFile(logFile);

  std::string node = newNodeKey();
  std::string disco = key::DiscoPrivate::generate().publicKey().toString();
  auto r = login(op, tc.url(), node, adminKey(tc, false));
  ASSERT_TRUE(r) << r.error().message << "\n" << readFile(logFile);
  auto reply = r->as<schema::LoginReply>();
  ASSERT_TRUE(reply.getRegistered()) << reply.getError().cStr();
  ASSERT_TRUE(op.call("controld.setConfig", [&](capnp::AnyPointer::Builder b) {
    fillConfig(b.initAs<schema::ControlConfig>(), 1, tc.url(), node, disco);
  }));
  ASSERT_TRUE(runUntil(loop, [&] { return op.netmap.has_value(); }, 5000ms)) << readFile(logFile) << tc.output();
  EXPECT_EQ(op.netmap->selfKey, node);
  ASSERT_FALSE(op.netmap->selfAddresses.empty());
  EXPECT_EQ(op.netmap->selfAddresses[0].rfind("100.64.", 0), 0u) << op.netmap->selfAddresses[0];
  size_t peersBefore = op.netmap->peers;

  // Peers join on the server: they reach controld.netmap within 2 s.
  auto add = harness::httpRequest("127.0.0.1", tc.port(), "POST", "/admin/synthetic", R"({"add":3})");
  ASSERT_TRUE(add && add->status == 200);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runUntil(loop, [&] { return op.netmap->peers == peersBefore + 3; }, 2000ms));
  auto joinMs = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  auto remove = harness::httpRequest("127.0.0.1", tc.port(), "POST", "/admin/synthetic", R"({"remove":3})");
  ASSERT_TRUE(remove && remove->status == 200);
  ASSERT_TRUE(runUntil(loop, [&] { return op.netmap->peers == peersBefore; }, 2000ms));
  std::printf("peer join reached controld.netmap in %lld ms\n", static_cast<long long>(joinMs));

  // Keep-alives (1 s) keep the stream up without new generations.
  uint64_t gen = op.netmap->generation;
  loop.runFor(2500ms);
  EXPECT_EQ(op.netmap->generation, gen);
  EXPECT_TRUE(op.status().mapConnected);

  // Interactive login for a new key: an AuthURL, then approval through the admin API.
  std::string node2 = newNodeKey();
  auto r2 = login(op, tc.url(), node2, "");
  ASSERT_TRUE(r2) << r2.error().message;
  std::string authUrl = r2->as<schema::LoginReply>().getAuthUrl().cStr();
  ASSERT_FALSE(authUrl.empty());
  ASSERT_TRUE(runUntil(loop, [&] { return op.status().authUrl == authUrl; }));
  auto pending = harness::httpRequest("127.0.0.1", tc.port(), "GET", "/admin/auth-urls");
  ASSERT_TRUE(pending && pending->status == 200);
  std::string id;
  for (const auto& e : pending->json()) {
    if (e.value("url", "") == authUrl) id = e["id"].is_string() ? e["id"].get<std::string>() : e["id"].dump();
  }
  ASSERT_FALSE(id.empty()) << pending->body;
  uint64_t finished = op.status().loginFinishedCount;
  auto approve = harness::httpRequest("127.0.0.1", tc.port(), "POST", "/admin/auth/" + id + "/approve");
  ASSERT_TRUE(approve && approve->status == 200) << (approve ? approve->body : approve.error().message);
  ASSERT_TRUE(runUntil(loop, [&] { return op.status().loginFinishedCount == finished + 1; }, 5000ms));
  EXPECT_EQ(op.status().loggedInNodePublic, node2);
  EXPECT_EQ(proc.stop(), 0);
}

TEST(ControldTestcontrol, TenThousandPeerJoinAndHundredPeerDelta) {
  harness::Fixture tc("testcontrol", {.args = {"--keepalive-seconds", "5", "--synthetic-peers", "10000"}});
  auto started = tc.start();
  if (!started) GTEST_SKIP() << started.error().message;
  bus::testing::TempRuntime rt;
  bus::Loop loop;
  std::string logFile = rt.path() + "/controld.log";
  ControldProcess proc(rt.path(), rt.path() + "/controld-state", logFile);
  Operator op(loop, rt.path());
  ASSERT_TRUE(runUntil(loop, [&] { return !op.statuses.empty(); }, 5000ms));
  uint64_t idleKb = pssKb(proc.pid());

  std::string node = newNodeKey();
  std::string disco = key::DiscoPrivate::generate().publicKey().toString();
  auto t0 = std::chrono::steady_clock::now();
  auto r = login(op, tc.url(), node, adminKey(tc, false));
  ASSERT_TRUE(r && r->as<schema::LoginReply>().getRegistered());
  ASSERT_TRUE(op.call("controld.setConfig", [&](capnp::AnyPointer::Builder b) {
    fillConfig(b.initAs<schema::ControlConfig>(), 1, tc.url(), node, disco);
  }));
  ASSERT_TRUE(runUntil(loop, [&] { return op.netmap && op.netmap->peers >= 10000; }, 60000ms)) << readFile(logFile);
  auto joinMs = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  loop.runFor(300ms);
  uint64_t joinedKb = pssKb(proc.pid());

  size_t before = op.netmap->peers;
  auto t1 = std::chrono::steady_clock::now();
  auto add = harness::httpRequest("127.0.0.1", tc.port(), "POST", "/admin/synthetic", R"({"add":100})");
  ASSERT_TRUE(add && add->status == 200);
  ASSERT_TRUE(runUntil(loop, [&] { return op.netmap->peers == before + 100; }, 20000ms));
  auto deltaMs = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1).count();
  uint64_t afterKb = pssKb(proc.pid());
  std::printf("10k join: login→netmap(10000 peers) %lld ms; 100-peer delta %lld ms; controld PSS idle %llu kB, "
              "joined %llu kB, after delta %llu kB\n",
              static_cast<long long>(joinMs), static_cast<long long>(deltaMs),
              static_cast<unsigned long long>(idleKb), static_cast<unsigned long long>(joinedKb),
              static_cast<unsigned long long>(afterKb));
  EXPECT_LT(joinMs, 30000);
  if (std::getenv("CONTROLD_BENCH_LOG")) std::printf("%s", readFile(logFile).c_str());
  EXPECT_EQ(proc.stop(), 0);
}

}  // namespace
}  // namespace tnet
