// Issue 6's acceptance: two suites in their own network namespaces, testcontrol and testderp in
// a hub namespace that routes between them. Applications reach node B's loopback page through
// node A's SOCKS5 and HTTP proxies over WireGuard, first relayed by DERP (UDP between the nodes
// dropped in the hub), then direct once UDP is allowed. UDP goes through the SOCKS5 proxy's UDP
// ASSOCIATE (tnet-test-udp) to a UDP echo on the other node's loopback (tnet-test-httpd
// --udp-echo), ICMP echo with `tnet ping --icmp` (wgd originates it; the peer's lwIP answers).
// Shields-up and a netmap deny rule (testcontrol's POST /admin/filter) block inbound TCP, UDP
// and ICMP echo, to the IPv4 and the IPv6 tailnet address, while outbound keeps working. Root
// only (CI is root).
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <future>

#include "tests/integration/tailnet/tailnet_fixture.h"
#include "tests/integration/tailnet/topology.h"

namespace tnet::tailnet_test {
namespace {

constexpr uint16_t CONTROL_PORT = 8080;
constexpr uint16_t DERP_PORT = 8443;
constexpr uint16_t STUN_PORT = 3478;
constexpr uint16_t PAGE_PORT = 8088;
constexpr uint16_t ECHO_PORT = 8089;  // UDP echo beside each page server
const std::string SOCKS = "127.0.0.1:1080";
const std::string HTTP_PROXY = "127.0.0.1:1081";

struct NsNode {
  std::string name;
  const NetNamespace* ns = nullptr;
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Suite> suite;

  ProcessResult tnet(const std::vector<std::string>& args, std::chrono::milliseconds t = 30s) const {
    RunOptions o;
    o.timeout = t;
    return runTnet(suite->socket(), args, o);
  }
  nlohmann::json status() const {
    auto r = suite->get("/localapi/v0/status");
    if (!r || r->status != 200) return nlohmann::json(nlohmann::json::value_t::discarded);
    return r->json();
  }
  std::string state() const {
    auto s = status();
    return s.is_discarded() ? "" : s.value("BackendState", "");
  }
  std::string ipv4() const {
    auto s = status();
    if (s.is_discarded() || !s["Self"]["TailscaleIPs"].is_array()) return "";
    for (const auto& ip : s["Self"]["TailscaleIPs"]) {
      std::string v = ip.get<std::string>();
      if (v.find('.') != std::string::npos) return v;
    }
    return "";
  }
  std::string ipv6() const {
    auto s = status();
    if (s.is_discarded() || !s["Self"]["TailscaleIPs"].is_array()) return "";
    for (const auto& ip : s["Self"]["TailscaleIPs"]) {
      std::string v = ip.get<std::string>();
      if (v.find(':') != std::string::npos) return v;
    }
    return "";
  }
  // The status entry of the peer with HostName `host` (null when absent).
  nlohmann::json peer(const std::string& host) const {
    auto s = status();
    if (s.is_discarded() || !s["Peer"].is_object()) return nullptr;
    for (const auto& [k, p] : s["Peer"].items()) {
      if (p.value("HostName", "") == host) return p;
    }
    return nullptr;
  }
  // Runs a command inside this node's namespace (curl as a local application).
  ProcessResult exec(const std::vector<std::string>& argv, std::chrono::milliseconds t = 60s) const {
    return Topology::run(*ns, argv, t);
  }
};

class TailnetDataPath : public ::testing::Test {
 protected:
  void SetUp() override {
    auto why = Topology::unavailable();
    if (!why.empty()) GTEST_SKIP() << why;
    auto missing = Tailnet::missing();
    if (missing.empty()) missing = missingBinaries({"testderp", "tnet-test-httpd", "tnet-test-udp"});
    if (!missing.empty()) GTEST_SKIP() << missing;
    auto topo = Topology::create();
    ASSERT_TRUE(topo) << topo.error().message;
    topo_ = std::move(*topo);
    std::string hubIp = Topology::HUB_ADDR;

    FixtureOptions d;
    d.wrapper = topo_->hub().exec({});
    d.args = {"--listen", "0.0.0.0:" + std::to_string(DERP_PORT), "--stun-port", std::to_string(STUN_PORT)};
    derp_ = std::make_unique<Fixture>("testderp", d);
    auto ds = derp_->start();
    ASSERT_TRUE(ds) << ds.error().message;

    FixtureOptions c;
    c.wrapper = topo_->hub().exec({});
    c.args = {"--listen",         "0.0.0.0:" + std::to_string(CONTROL_PORT),
              "--derp-url",       "http://" + hubIp + ":" + std::to_string(DERP_PORT),
              "--derp-stun-port", std::to_string(STUN_PORT)};
    control_ = std::make_unique<Fixture>("testcontrol", c);
    auto cs = control_->start();
    ASSERT_TRUE(cs) << cs.error().message;

    a_ = makeNode("a", topo_->a());
    b_ = makeNode("b", topo_->b());
    ASSERT_TRUE(a_ && b_);

    FixtureOptions h;
    h.wrapper = topo_->b().exec({});
    h.args = {"--listen",   "127.0.0.1:" + std::to_string(PAGE_PORT),
              "--name",     "b",
              "--udp-echo", std::to_string(ECHO_PORT)};
    page_ = std::make_unique<Fixture>("tnet-test-httpd", h);
    auto ps = page_->start();
    ASSERT_TRUE(ps) << ps.error().message;
  }

  void TearDown() override {
    // Release builds run every service under its seccomp allow-list in kill mode (issue 7): the
    // data path must never need a call outside it.
    for (auto* n : {a_.get(), b_.get()}) {
      if (n && n->suite) {
        EXPECT_EQ(n->suite->stderrText().find("killed by seccomp"), std::string::npos) << "suite " << n->name;
      }
    }
    if (HasFailure()) {
      if (control_) std::cerr << "--- testcontrol ---\n" << control_->output();
      if (derp_) std::cerr << "--- testderp ---\n" << derp_->output();
      for (auto* n : {a_.get(), b_.get()}) {
        if (n && n->suite) std::cerr << "--- suite " << n->name << " ---\n" << n->suite->stderrText();
      }
    }
    a_.reset();
    b_.reset();
    page_.reset();
    control_.reset();
    derp_.reset();
    topo_.reset();
  }

  std::unique_ptr<NsNode> makeNode(const std::string& name, const NetNamespace& ns) {
    auto n = std::make_unique<NsNode>();
    n->name = name;
    n->ns = &ns;
    n->dir = std::make_unique<TempDir>("tnet-dp-" + name, 0755);
    SuiteOptions o;
    o.stateDir = *n->dir / "state";
    o.runtimeDir = *n->dir / "run";
    o.wrapper = ns.exec({});
    // testderp speaks plain HTTP, as Go's test setups do.
    o.env = {{"TS_DEBUG_USE_DERP_HTTP", "1"}};
    o.args = {"--socks5-server", SOCKS, "--outbound-http-proxy-listen", HTTP_PROXY};
    n->suite = std::make_unique<Suite>(o);
    auto started = n->suite->start();
    EXPECT_TRUE(started) << started.error().message;
    if (!started) return nullptr;
    auto ready = n->suite->waitReady(20s);
    EXPECT_TRUE(ready) << ready.error().message;
    if (!ready) return nullptr;
    return n;
  }

  std::string authKey() {
    auto r =
        Topology::run(topo_->hub(), {"curl", "-sS", "-X", "POST", "-d", R"({"reusable":true})",
                                     "http://127.0.0.1:" + std::to_string(CONTROL_PORT) + "/admin/keys"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
    return j.is_discarded() ? "" : j.value("key", "");
  }

  void bringUp(NsNode& n, const std::string& key) {
    auto up = n.tnet({"up", "--login-server",
                      "http://" + std::string(Topology::HUB_ADDR) + ":" + std::to_string(CONTROL_PORT),
                      "--auth-key", key, "--hostname", n.name, "--timeout", "30s"},
                     40s);
    ASSERT_EQ(up.exitCode, 0) << up.out << up.err;
    ASSERT_EQ(n.state(), "Running");
  }

  // curl inside `from`'s namespace through its SOCKS5 proxy.
  ProcessResult socksGet(const NsNode& from, const std::string& url, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "30", "--socks5-hostname", SOCKS};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    return from.exec(argv);
  }

  void bothUp() {
    std::string key = authKey();
    ASSERT_FALSE(key.empty());
    bringUp(*a_, key);
    bringUp(*b_, key);
    ASSERT_TRUE(waitUntil([&] { return !a_->peer("b").is_null() && !b_->peer("a").is_null(); }, 5s));
  }

  std::string pageUrl(const std::string& host) {
    return "http://" + host + ":" + std::to_string(PAGE_PORT) + "/";
  }

  // A page server with a UDP echo on A's loopback (B has one from SetUp).
  std::unique_ptr<Fixture> startPageA() {
    FixtureOptions h;
    h.wrapper = topo_->a().exec({});
    h.args = {"--listen",   "127.0.0.1:" + std::to_string(PAGE_PORT),
              "--name",     "a",
              "--udp-echo", std::to_string(ECHO_PORT)};
    auto f = std::make_unique<Fixture>("tnet-test-httpd", h);
    auto started = f->start();
    EXPECT_TRUE(started) << started.error().message;
    return started ? std::move(f) : nullptr;
  }

  // One UDP datagram from `from` through its SOCKS5 UDP ASSOCIATE to <ip>:ECHO_PORT, resent until
  // the echo answers or `wait` passes: exit 0 and "<peer name>: <message>\n" on an answer, exit 1
  // on silence, 2 on a proxy error. Every call is a new association, so a new source port that
  // the peer's connection tracking has never seen.
  ProcessResult udpEcho(const NsNode& from, const std::string& ip, const std::string& message,
                        std::chrono::milliseconds wait) {
    return from.exec({*findBinary("tnet-test-udp"), "--socks5", SOCKS, "--to",
                      ip + ":" + std::to_string(ECHO_PORT), "--message", message, "--timeout-ms",
                      std::to_string(scaled(wait).count())});
  }

  // `tnet ping --icmp|--tsmp -c 1` from `from` to `to` (an ICMP echo or TSMP ping that wgd
  // originates): exit 0 with "pong from <to> (<ip>) via ICMP|TSMP in …", else "timed out" and exit 1.
  ProcessResult pingOnce(const NsNode& from, const std::string& kind, const std::string& to,
                         std::chrono::milliseconds timeout) {
    std::string t = std::to_string(scaled(timeout).count()) + "ms";
    return from.tnet({"ping", "--" + kind, "-c", "1", "--timeout", t, to}, timeout + 20s);
  }
  // What a successful pingOnce prints.
  static std::string pongLine(const std::string& host, const std::string& ip, const std::string& via) {
    return "pong from " + host + " (" + ip + ") via " + via + " in ";
  }

  // curl in the hub against testcontrol's admin API: {HTTP status, body}.
  std::pair<int, std::string> controlAdmin(const std::string& method, const std::string& path,
                                           const std::string& body = "") {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "10", "-X", method, "-w", "\n%{http_code}"};
    if (!body.empty()) argv.insert(argv.end(), {"--data-binary", body});
    argv.push_back("http://127.0.0.1:" + std::to_string(CONTROL_PORT) + path);
    auto r = Topology::run(topo_->hub(), argv);
    auto nl = r.out.rfind('\n');
    if (r.exitCode != 0 || nl == std::string::npos) return {0, r.out + r.err};
    return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
  }

  std::unique_ptr<Topology> topo_;
  std::unique_ptr<Fixture> derp_, control_, page_;
  std::unique_ptr<NsNode> a_, b_;
};

TEST_F(TailnetDataPath, ProxiesAndPingOverDerpThenDirect) {
  ASSERT_TRUE(topo_->blockUdpBetweenNodes(true));
  bothUp();
  std::string bIp = b_->ipv4();
  ASSERT_FALSE(bIp.empty());

  auto viaIp = socksGet(*a_, pageUrl(bIp));
  EXPECT_EQ(viaIp.exitCode, 0) << viaIp.err;
  EXPECT_EQ(viaIp.out, "hello from b\n");
  auto viaName = socksGet(*a_, pageUrl("b"));
  EXPECT_EQ(viaName.out, "hello from b\n") << viaName.err;
  auto viaHttpProxy =
      a_->exec({"curl", "-sS", "--max-time", "30", "-x", "http://" + HTTP_PROXY, pageUrl(bIp)});
  EXPECT_EQ(viaHttpProxy.out, "hello from b\n") << viaHttpProxy.err;

  auto peer = a_->peer("b");
  EXPECT_EQ(peer.value("CurAddr", ""), "") << peer.dump(2);
  EXPECT_NE(peer.value("Relay", ""), "") << peer.dump(2);
  // Go's `tailscale ping` keeps going until direct by default and fails when it never gets there.
  auto pingAB = a_->tnet({"ping", "-c", "1", "b"});
  EXPECT_NE(pingAB.exitCode, 0) << pingAB.out << pingAB.err;
  EXPECT_NE(pingAB.out.find("pong from b (" + bIp + ") via DERP(test) in "), std::string::npos) << pingAB.out;
  EXPECT_NE((pingAB.out + pingAB.err).find("direct connection not established"), std::string::npos)
      << pingAB.out << pingAB.err;
  auto pingBA = b_->tnet({"ping", "--until-direct=false", "-c", "1", "a"});
  EXPECT_EQ(pingBA.exitCode, 0) << pingBA.out << pingBA.err;
  EXPECT_NE(pingBA.out.find("via DERP(test)"), std::string::npos) << pingBA.out;

  ASSERT_TRUE(topo_->blockUdpBetweenNodes(false));
  EXPECT_TRUE(waitUntil([&] { return a_->peer("b").value("CurAddr", "") != ""; }, 10s))
      << a_->peer("b").dump(2);
  auto direct = a_->tnet({"ping", "-c", "1", "b"});
  EXPECT_EQ(direct.exitCode, 0) << direct.out << direct.err;
  EXPECT_NE(direct.out.find("via 10.99.2.2:"), std::string::npos) << direct.out;
  EXPECT_EQ(socksGet(*a_, pageUrl(bIp)).out, "hello from b\n");
}

TEST_F(TailnetDataPath, HundredMegabytesBothWaysAndTwoHundredConnections) {
  bothUp();
  std::string bIp = b_->ipv4();
  constexpr uint64_t SIZE = 100ull << 20;
  TempDir tmp("tnet-dp-data");
  // B → A: B's page server sends a known pattern; compare digests.
  std::string got = tmp / "from-b";
  auto down =
      socksGet(*a_, "http://" + bIp + ":" + std::to_string(PAGE_PORT) + "/bytes/" + std::to_string(SIZE),
               {"--max-time", "300", "-o", got});
  ASSERT_EQ(down.exitCode, 0) << down.err;
  std::string want = tmp / "pattern";
  {
    std::ofstream out(want, std::ios::binary);
    std::vector<char> buf(1 << 16);
    for (uint64_t off = 0; off < SIZE; off += buf.size()) {
      for (size_t i = 0; i < buf.size(); ++i) {
        uint64_t k = off + i;
        buf[i] = static_cast<char>((k * 7 + k / 251) & 0xff);
      }
      out.write(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(buf.size(), SIZE - off)));
    }
  }
  auto sums = runProcess({"sha256sum", got, want});
  ASSERT_EQ(sums.exitCode, 0);
  auto first = sums.out.substr(0, 64);
  auto second = sums.out.substr(sums.out.find('\n') + 1, 64);
  EXPECT_EQ(first, second) << sums.out;
  // A → B: upload the same bytes; B's server answers their digest.
  auto up = socksGet(
      *a_, "http://" + bIp + ":" + std::to_string(PAGE_PORT) + "/sha256",
      {"--max-time", "300", "--data-binary", "@" + want, "-H", "Content-Type: application/octet-stream"});
  ASSERT_EQ(up.exitCode, 0) << up.err;
  EXPECT_EQ(up.out, second + "\n");
  // 200 concurrent connections through the SOCKS5 proxy.
  std::string script = "ok=0; for i in $(seq 1 200); do curl -sS --max-time 60 --socks5-hostname " + SOCKS +
                       " " + pageUrl(bIp) + " > " + tmp.path() + "/c.$i 2>&1 & done; wait; " +
                       "grep -l 'hello from b' " + tmp.path() + "/c.* | wc -l";
  auto conc = a_->exec({"sh", "-c", script}, 120s);
  EXPECT_EQ(conc.out, "200\n") << conc.out << conc.err;
}

TEST_F(TailnetDataPath, ShieldsUpRefusesInboundButOutboundWorks) {
  bothUp();
  std::string aIp = a_->ipv4(), bIp = b_->ipv4();
  auto pageA = startPageA();
  ASSERT_TRUE(pageA);
  // Before: A reaches B by TCP and UDP.
  ASSERT_EQ(socksGet(*a_, pageUrl(bIp)).out, "hello from b\n");
  auto udpBefore = udpEcho(*a_, bIp, "before", 10s);
  ASSERT_EQ(udpBefore.exitCode, 0) << udpBefore.err;
  EXPECT_EQ(udpBefore.out, "b: before\n");
  std::string bV6 = b_->ipv6();
  ASSERT_FALSE(bV6.empty());
  std::string bIp6 = "[" + bV6 + "]";
  auto udp6Before = udpEcho(*a_, bIp6, "before over IPv6", 10s);
  EXPECT_EQ(udp6Before.exitCode, 0) << udp6Before.err;
  EXPECT_EQ(udp6Before.out, "b: before over IPv6\n");
  auto icmpBefore = pingOnce(*a_, "icmp", "b", 10s);
  EXPECT_EQ(icmpBefore.exitCode, 0) << icmpBefore.out << icmpBefore.err;
  EXPECT_NE(icmpBefore.out.find(pongLine("b", bIp, "ICMP")), std::string::npos) << icmpBefore.out;
  // ICMPv6 echo to B's IPv6 tailnet address: wgd originates it from A's IPv6 address.
  auto icmp6Before = pingOnce(*a_, "icmp", bV6, 10s);
  EXPECT_EQ(icmp6Before.exitCode, 0) << icmp6Before.out << icmp6Before.err;
  EXPECT_NE(icmp6Before.out.find(pongLine("b", bV6, "ICMP")), std::string::npos) << icmp6Before.out;

  auto set = b_->tnet({"set", "--shields-up"});
  ASSERT_EQ(set.exitCode, 0) << set.err;
  // B's netstackd applies it once ipnd pushes the new prefs: wait for A's TCP to be refused.
  ASSERT_TRUE(waitUntil([&] { return socksGet(*a_, pageUrl(bIp), {"--max-time", "2"}).exitCode != 0; }, 10s));
  // UDP from A (a fresh source port) gets no echo: B drops it before lwIP.
  auto udpAfter = udpEcho(*a_, bIp, "after", 2s);
  EXPECT_EQ(udpAfter.exitCode, 1) << udpAfter.out << udpAfter.err;
  EXPECT_EQ(udpAfter.out, "");
  EXPECT_EQ(udpEcho(*a_, bIp6, "after over IPv6", 2s).exitCode, 1);
  // ICMP echo requests are dropped too (lwIP never sees them, so never answers).
  auto icmpAfter = pingOnce(*a_, "icmp", "b", 2s);
  EXPECT_NE(icmpAfter.exitCode, 0) << icmpAfter.out;
  EXPECT_EQ(icmpAfter.out.find("pong"), std::string::npos) << icmpAfter.out;
  EXPECT_NE(icmpAfter.out.find("ping \"" + bIp + "\" timed out"), std::string::npos) << icmpAfter.out;
  auto icmp6After = pingOnce(*a_, "icmp", bV6, 2s);
  EXPECT_NE(icmp6After.exitCode, 0) << icmp6After.out;
  EXPECT_EQ(icmp6After.out.find("pong"), std::string::npos) << icmp6After.out;
  EXPECT_NE(icmp6After.out.find("ping \"" + bV6 + "\" timed out"), std::string::npos) << icmp6After.out;
  // TSMP pings are answered by B's wgd below the filter, as Go answers them below its filter: the
  // tunnel itself is up, only B's stack refuses.
  auto tsmp = pingOnce(*a_, "tsmp", "b", 10s);
  EXPECT_EQ(tsmp.exitCode, 0) << tsmp.out << tsmp.err;
  EXPECT_NE(tsmp.out.find(pongLine("b", bIp, "TSMP")), std::string::npos) << tsmp.out;
  auto tsmp6 = pingOnce(*a_, "tsmp", bV6, 10s);
  EXPECT_EQ(tsmp6.exitCode, 0) << tsmp6.out << tsmp6.err;
  EXPECT_NE(tsmp6.out.find(pongLine("b", bV6, "TSMP")), std::string::npos) << tsmp6.out;

  // B's own outbound TCP and UDP still work: the replies pass B's filter as replies to its flows.
  auto out = socksGet(*b_, pageUrl(aIp));
  EXPECT_EQ(out.out, "hello from a\n") << out.err;
  auto udpOut = udpEcho(*b_, aIp, "from b", 10s);
  EXPECT_EQ(udpOut.exitCode, 0) << udpOut.err;
  EXPECT_EQ(udpOut.out, "a: from b\n");
  auto icmpOut = pingOnce(*b_, "icmp", "a", 10s);
  EXPECT_EQ(icmpOut.exitCode, 0) << icmpOut.out << icmpOut.err;
  EXPECT_NE(icmpOut.out.find(pongLine("a", aIp, "ICMP")), std::string::npos) << icmpOut.out;
}

TEST_F(TailnetDataPath, NetmapDenyRuleBlocksTcpUdpIcmp) {
  bothUp();
  std::string aIp = a_->ipv4(), bIp = b_->ipv4();
  std::string aV6 = a_->ipv6(), bV6 = b_->ipv6();
  ASSERT_FALSE(aV6.empty() || bV6.empty());
  auto pageA = startPageA();
  ASSERT_TRUE(pageA);
  ASSERT_EQ(socksGet(*a_, pageUrl(bIp)).out, "hello from b\n");
  ASSERT_EQ(socksGet(*a_, pageUrl("[" + bV6 + "]")).out, "hello from b\n");
  ASSERT_EQ(udpEcho(*a_, bIp, "allowed", 10s).out, "b: allowed\n");
  auto icmpAllowed = pingOnce(*a_, "icmp", "b", 10s);
  ASSERT_EQ(icmpAllowed.exitCode, 0) << icmpAllowed.out << icmpAllowed.err;

  // A filter that is not valid is refused by testcontrol and changes nothing.
  auto bad =
      controlAdmin("POST", "/admin/filter", R"([{"SrcIPs":["100.64.0.999"],"DstPorts":[{"IP":"*"}]}])");
  EXPECT_EQ(bad.first, 400) << bad.second;
  EXPECT_NE(bad.second.find("bad filter: FilterRule[0].SrcIPs[0]"), std::string::npos) << bad.second;

  // Only B may reach A, over IPv4 and IPv6: everything from A to B is denied by the netmap's
  // PacketFilter.
  std::string onlyBToA = R"([{"SrcIPs":[")" + bIp + R"(",")" + bV6 + R"("],"DstPorts":[{"IP":")" + aIp +
                         R"(","Ports":{"First":0,"Last":65535}},{"IP":")" + aV6 +
                         R"(","Ports":{"First":0,"Last":65535}}]}])";
  auto set = controlAdmin("POST", "/admin/filter", onlyBToA);
  ASSERT_EQ(set.first, 200) << set.second;
  // control → controld → ipnd → netstackd: wait for A's TCP to B to be dropped.
  ASSERT_TRUE(waitUntil(
      [&] {
        return socksGet(*a_, pageUrl(bIp), {"--max-time", "2"}).exitCode != 0;
      },
      15s))
      << "A still reaches B's page under the deny rule";
  auto udpDenied = udpEcho(*a_, bIp, "denied", 2s);
  EXPECT_EQ(udpDenied.exitCode, 1) << udpDenied.out << udpDenied.err;
  auto icmpDenied = pingOnce(*a_, "icmp", "b", 2s);
  EXPECT_NE(icmpDenied.exitCode, 0) << icmpDenied.out;
  EXPECT_EQ(icmpDenied.out.find("pong"), std::string::npos) << icmpDenied.out;
  // The same over IPv6. Each probe waits out its timeout, so the three run at once.
  auto tcp6Denied = std::async(std::launch::async, [&] {
    return socksGet(*a_, pageUrl("[" + bV6 + "]"), {"--max-time", "2"});
  });
  auto udp6Denied = std::async(std::launch::async, [&] { return udpEcho(*a_, "[" + bV6 + "]", "denied6", 2s); });
  auto icmp6Denied = std::async(std::launch::async, [&] { return pingOnce(*a_, "icmp", bV6, 2s); });
  auto tcp6 = tcp6Denied.get();
  EXPECT_NE(tcp6.exitCode, 0) << tcp6.out;
  EXPECT_EQ(tcp6.out.find("hello"), std::string::npos) << tcp6.out;
  auto udp6 = udp6Denied.get();
  EXPECT_EQ(udp6.exitCode, 1) << udp6.out << udp6.err;
  auto icmp6 = icmp6Denied.get();
  EXPECT_NE(icmp6.exitCode, 0) << icmp6.out;
  EXPECT_EQ(icmp6.out.find("pong"), std::string::npos) << icmp6.out;
  // B → A is allowed, and the replies come back through B's filter.
  auto tcpBA = socksGet(*b_, pageUrl(aIp));
  EXPECT_EQ(tcpBA.out, "hello from a\n") << tcpBA.err;
  auto udpBA = udpEcho(*b_, aIp, "b to a", 10s);
  EXPECT_EQ(udpBA.exitCode, 0) << udpBA.err;
  EXPECT_EQ(udpBA.out, "a: b to a\n");
  auto icmpBA = pingOnce(*b_, "icmp", "a", 10s);
  EXPECT_EQ(icmpBA.exitCode, 0) << icmpBA.out << icmpBA.err;
  EXPECT_NE(icmpBA.out.find(pongLine("a", aIp, "ICMP")), std::string::npos) << icmpBA.out;
  auto tcp6BA = socksGet(*b_, pageUrl("[" + aV6 + "]"));
  EXPECT_EQ(tcp6BA.out, "hello from a\n") << tcp6BA.err;
  auto udp6BA = udpEcho(*b_, "[" + aV6 + "]", "b to a over IPv6", 10s);
  EXPECT_EQ(udp6BA.exitCode, 0) << udp6BA.err;
  EXPECT_EQ(udp6BA.out, "a: b to a over IPv6\n");
  auto icmp6BA = pingOnce(*b_, "icmp", aV6, 10s);
  EXPECT_EQ(icmp6BA.exitCode, 0) << icmp6BA.out << icmp6BA.err;
  EXPECT_NE(icmp6BA.out.find(pongLine("a", aV6, "ICMP")), std::string::npos) << icmp6BA.out;

  // DELETE restores Go's FilterAllowAll: A reaches B again. UDP probes with a short wait time how
  // long control → controld → ipnd → netstackd takes.
  auto t0 = std::chrono::steady_clock::now();
  auto del = controlAdmin("DELETE", "/admin/filter");
  ASSERT_EQ(del.first, 200) << del.second;
  EXPECT_TRUE(waitUntil([&] { return udpEcho(*a_, bIp, "again", 300ms).out == "b: again\n"; }, 15s));
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("allow-all in effect on B %lld ms after DELETE /admin/filter\n", static_cast<long long>(ms));
  auto tcpAgain = socksGet(*a_, pageUrl(bIp));
  EXPECT_EQ(tcpAgain.out, "hello from b\n") << tcpAgain.err;
  auto icmpAgain = pingOnce(*a_, "icmp", "b", 10s);
  EXPECT_EQ(icmpAgain.exitCode, 0) << icmpAgain.out << icmpAgain.err;
}

// The rule's IPProto and ports reach netstackd intact: each protocol is allowed or denied on its
// own, so the "blocked" results above come from the filter and not from a broken path.
TEST_F(TailnetDataPath, NetmapRuleProtocolsAreSelective) {
  bothUp();
  std::string aIp = a_->ipv4(), bIp = b_->ipv4();
  std::string aV6 = a_->ipv6(), bV6 = b_->ipv6();
  ASSERT_FALSE(aV6.empty() || bV6.empty());
  ASSERT_EQ(socksGet(*a_, pageUrl(bIp)).out, "hello from b\n");
  auto rule = [](const std::string& src, const std::string& dst, int first, int last,
                 const std::string& protos) {
    return R"({"SrcIPs":[")" + src + R"("],"DstPorts":[{"IP":")" + dst + R"(","Ports":{"First":)" +
           std::to_string(first) + R"(,"Last":)" + std::to_string(last) + "}}]" +
           (protos.empty() ? "" : R"(,"IPProto":[)" + protos + "]") + "}";
  };
  std::string bToA = rule(bIp, aIp, 0, 65535, "");

  // A → B: ICMP only (protocol 1). TCP and UDP are dropped, ICMP echo is answered; ICMPv6 echo
  // (protocol 58) is not ICMP, so the same rule for the IPv6 addresses drops it.
  auto icmpOnly = controlAdmin("POST", "/admin/filter",
                               "[" + rule(aIp, bIp, 0, 65535, "1") + "," + rule(aV6, bV6, 0, 65535, "1") +
                                   "," + bToA + "]");
  ASSERT_EQ(icmpOnly.first, 200) << icmpOnly.second;
  ASSERT_TRUE(waitUntil([&] { return socksGet(*a_, pageUrl(bIp), {"--max-time", "2"}).exitCode != 0; }, 15s));
  auto icmp = pingOnce(*a_, "icmp", "b", 10s);
  EXPECT_EQ(icmp.exitCode, 0) << icmp.out << icmp.err;
  EXPECT_NE(icmp.out.find(pongLine("b", bIp, "ICMP")), std::string::npos) << icmp.out;
  auto icmp6Denied = std::async(std::launch::async, [&] { return pingOnce(*a_, "icmp", bV6, 2s); });
  EXPECT_EQ(udpEcho(*a_, bIp, "udp under icmp-only", 2s).exitCode, 1);
  auto icmp6 = icmp6Denied.get();
  EXPECT_NE(icmp6.exitCode, 0) << icmp6.out;
  EXPECT_EQ(icmp6.out.find("pong"), std::string::npos) << icmp6.out;

  // A → B: UDP to the echo port only (protocol 17, one port), and ICMPv6 (58) between the IPv6
  // addresses. UDP and ICMPv6 echo are answered; ICMP and TCP are not.
  auto udpOnly = controlAdmin("POST", "/admin/filter",
                              "[" + rule(aIp, bIp, ECHO_PORT, ECHO_PORT, "17") + "," +
                                  rule(aV6, bV6, 0, 65535, "58") + "," + bToA + "]");
  ASSERT_EQ(udpOnly.first, 200) << udpOnly.second;
  EXPECT_TRUE(waitUntil([&] { return udpEcho(*a_, bIp, "udp only", 2s).out == "b: udp only\n"; }, 15s));
  auto icmp6Allowed = pingOnce(*a_, "icmp", bV6, 10s);
  EXPECT_EQ(icmp6Allowed.exitCode, 0) << icmp6Allowed.out << icmp6Allowed.err;
  EXPECT_NE(icmp6Allowed.out.find(pongLine("b", bV6, "ICMP")), std::string::npos) << icmp6Allowed.out;
  auto icmpDenied = pingOnce(*a_, "icmp", "b", 2s);
  EXPECT_NE(icmpDenied.exitCode, 0) << icmpDenied.out;
  EXPECT_EQ(icmpDenied.out.find("pong"), std::string::npos) << icmpDenied.out;
  EXPECT_NE(socksGet(*a_, pageUrl(bIp), {"--max-time", "2"}).exitCode, 0);
}

TEST_F(TailnetDataPath, ServiceCrashesHealAndWgdSessionsSurvive) {
  bothUp();
  std::string bIp = b_->ipv4();
  ASSERT_EQ(socksGet(*a_, pageUrl(bIp)).out, "hello from b\n");
  // wgd.peers reaches status at most once a second: wait for the handshake to show.
  const std::string zeroTime = "0001-01-01T00:00:00Z";
  ASSERT_TRUE(waitUntil([&] { return a_->peer("b").value("LastHandshake", zeroTime) != zeroTime; }, 5s));
  auto handshake = a_->peer("b").value("LastHandshake", "");
  pid_t wgdPid = a_->suite->services()["wgd"];
  for (const std::string svc : {"netstackd", "magicsockd", "controld"}) {
    auto before = a_->suite->services();
    ASSERT_TRUE(before.count(svc)) << svc;
    ASSERT_EQ(kill(before[svc], SIGKILL), 0);
    EXPECT_TRUE(waitUntil(
        [&] {
          auto now = a_->suite->services();
          return now.count(svc) && now[svc] != before[svc] &&
                 socksGet(*a_, pageUrl(bIp), {"--max-time", "1"}).out == "hello from b\n";
        },
        3s))
        << "no working connection within 3 s after kill -9 of " << svc;
  }
  // No new handshake: wgd kept its session through the restarts (and wgd itself was not
  // restarted). Status may briefly read Go's zero time while ipnd re-learns wgd.peers.
  std::string after = a_->peer("b").value("LastHandshake", "");
  EXPECT_TRUE(after == handshake || after == zeroTime)
      << "wgd made a new handshake: " << after << " (was " << handshake << ")";
  EXPECT_EQ(a_->suite->services()["wgd"], wgdPid) << "wgd was restarted";
  EXPECT_EQ(a_->state(), "Running");
}

TEST_F(TailnetDataPath, WgdSegfaultLeavesNoCoreAndIsRestarted) {
  bothUp();
  auto before = a_->suite->services();
  ASSERT_TRUE(before.count("wgd"));
  std::string cwd = "/proc/" + std::to_string(before["wgd"]) + "/cwd";
  ASSERT_EQ(kill(before["wgd"], SIGSEGV), 0);
  EXPECT_TRUE(waitUntil(
      [&] {
        auto now = a_->suite->services();
        return now.count("wgd") && now["wgd"] != before["wgd"];
      },
      5s));
  auto cores = runProcess(
      {"sh", "-c",
       "ls " + a_->dir->path() + " /tmp /var/lib/systemd/coredump 2>/dev/null | grep -c '^core' || true"});
  EXPECT_EQ(cores.out, "0\n") << cores.out;
}

}  // namespace
}  // namespace tnet::tailnet_test
