// Two real magicsockd processes driven through the real bus by this test, which plays wgd
// (derpClientInfo with a real node key, wgd.nodekey, the packet pipes) and ipnd (setConfig), with
// testderp as the relay. Every process talks over loopback or inside a namespace the test made.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "libs/crypto/crypto.h"
#include "libs/wire/disco.h"
#include "libs/wire/stun.h"
#include "tests/integration/magicsock/magicsock_fixture.h"
#include "tests/integration/testderp/derp_server.h"

namespace tnet::magicsocktest {
namespace {

using namespace std::chrono_literals;

class MagicsockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    if (!std::filesystem::exists(binDir() + "/magicsockd")) GTEST_SKIP() << "magicsockd is not built";
    auto s = testderp::DerpServer::start(testderp::ServerOptions{.stunPort = 0});
    ASSERT_TRUE(s) << s.error().message;
    derp_ = std::move(*s);
    target_ = DerpTarget{"127.0.0.1", derp_->port(), derp_->stunPort()};
    a_ = std::make_unique<Node>(loop_, "a");
    b_ = std::make_unique<Node>(loop_, "b");
    auto ra = a_->start();
    ASSERT_TRUE(ra) << ra.error().message;
    auto rb = b_->start();
    ASSERT_TRUE(rb) << rb.error().message;
  }
  void TearDown() override {
    if (HasFailure()) {
      if (a_) std::cerr << "---- magicsockd a:\n" << a_->log();
      if (b_) std::cerr << "---- magicsockd b:\n" << b_->log();
    }
    a_.reset();
    b_.reset();
    if (derp_) derp_->stop();
  }

  // Configures both sides; `aSeesB` / `bSeesA` choose what each is told about the other.
  void configure(bool discoKeys, bool endpoints, std::string wrongDiscoForB = "") {
    if (endpoints) {
      // Endpoints come from STUN, which needs the DERP map: configure without peers first.
      ASSERT_TRUE(a_->setConfig(target_, {}));
      ASSERT_TRUE(b_->setConfig(target_, {}));
      ASSERT_TRUE(runUntil(
          loop_, [&] { return !a_->endpoints().empty() && !b_->endpoints().empty(); }, 10s))
          << "no STUN endpoints";
    }
    Node::PeerSpec bForA{b_->nodePublic(),
                         discoKeys ? (wrongDiscoForB.empty() ? b_->discoPublic() : wrongDiscoForB) : "",
                         endpoints ? b_->endpoints() : std::vector<std::string>{}, 1};
    Node::PeerSpec aForB{a_->nodePublic(), discoKeys ? a_->discoPublic() : "",
                         endpoints ? a_->endpoints() : std::vector<std::string>{}, 1};
    auto r1 = a_->setConfig(target_, {bForA});
    ASSERT_TRUE(r1) << r1.error().message;
    auto r2 = b_->setConfig(target_, {aForB});
    ASSERT_TRUE(r2) << r2.error().message;
  }

  // Sends tagged datagrams both ways every `every` until pred holds or timeout; true if it held.
  bool pumpUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                 std::chrono::milliseconds every = 100ms) {
    auto end = std::chrono::steady_clock::now() + scaled(timeout);
    while (std::chrono::steady_clock::now() < end) {
      a_->sendData(b_->nodePublic(), fakeTransport(++tag_));
      b_->sendData(a_->nodePublic(), fakeTransport(++tag_));
      if (runUntil(loop_, pred, every)) return true;
    }
    return pred();
  }

  static size_t countFrom(Node& n, const key::NodePublic& peer, uint8_t path) {
    size_t c = 0;
    for (const auto& r : n.received()) c += (r.peer == peer && r.path == path) ? 1 : 0;
    return c;
  }

  bool direct(Node& from, Node& to) {
    auto p = from.pathTo(to.nodePublic());
    return p && !p->curAddr.empty();
  }

  bus::Loop loop_;
  std::unique_ptr<testderp::DerpServer> derp_;
  DerpTarget target_;
  std::unique_ptr<Node> a_, b_;
  uint32_t tag_ = 0;
};

TEST_F(MagicsockTest, DerpLoginThroughWgdAndDatagramsViaDerp) {
  configure(/*discoKeys=*/false, /*endpoints=*/false);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1) && b_->derpConnected(1); }, 10s));
  EXPECT_GE(a_->sealCalls(), 1);  // the login was sealed by "wgd", not by magicsockd
  EXPECT_GE(derp_->stats().handshakes, 2u);
  EXPECT_TRUE(runUntil(
      loop_, [&] { return derp_->stats().notePreferredTrue >= 2; }, 5s));  // home region
  ASSERT_TRUE(pumpUntil(
      [&] { return countFrom(*b_, a_->nodePublic(), 1) >= 5 && countFrom(*a_, b_->nodePublic(), 1) >= 5; },
      10s));
  // Tagged with the peer's node key and the DERP region; payload intact.
  const auto& r = b_->received().front();
  EXPECT_EQ(r.peer, a_->nodePublic());
  EXPECT_EQ(r.source, "1");
  EXPECT_EQ(r.datagram.size(), 64u);
  EXPECT_EQ(r.datagram[0], 4);
  auto p = a_->pathTo(b_->nodePublic());
  ASSERT_TRUE(p);
  EXPECT_EQ(p->curAddr, "");
  EXPECT_EQ(p->relayRegion, 1);
}

TEST_F(MagicsockTest, StateDirHoldsNoNodeKeyAndLogsNeverShowIt) {
  configure(false, false);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1); }, 10s));
  // DERP login worked, yet magicsockd wrote nothing to its state dir (the log file is ours).
  for (const auto& e : std::filesystem::directory_iterator(a_->stateDir())) {
    EXPECT_EQ(e.path().filename(), "magicsockd.log");
  }
  auto log = a_->log();
  EXPECT_EQ(log.find(a_->nodePrivateHex()), std::string::npos);
  EXPECT_EQ(log.find("privkey:"), std::string::npos);
}

TEST_F(MagicsockTest, UpgradesToDirectWithinFiveSecondsAndPathChangeIsAnEvent) {
  configure(/*discoKeys=*/true, /*endpoints=*/true);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1) && b_->derpConnected(1); }, 10s));
  auto eventsBefore = a_->pathEvents();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(pumpUntil([&] { return direct(*a_, *b_) && direct(*b_, *a_); }, 5s))
      << "no direct path within 5 s";
  auto took = std::chrono::steady_clock::now() - t0;
  std::cerr << "direct after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms\n";
  EXPECT_GT(a_->pathEvents(), eventsBefore);
  EXPECT_EQ(a_->pathTo(b_->nodePublic())->curAddr, b_->endpoints().front());
  EXPECT_GT(a_->pathTo(b_->nodePublic())->rttNs, 0);
  // Datagrams now arrive over UDP, from the peer's address, tagged with its key.
  size_t before = countFrom(*b_, a_->nodePublic(), 0);
  ASSERT_TRUE(pumpUntil([&] { return countFrom(*b_, a_->nodePublic(), 0) >= before + 5; }, 5s));
  bool sawUdp = false;
  for (const auto& r : b_->received()) {
    if (r.path == 0 && r.peer == a_->nodePublic()) {
      EXPECT_EQ(r.source, a_->endpoints().front());
      sawUdp = true;
    }
  }
  EXPECT_TRUE(sawUdp);
}

TEST_F(MagicsockTest, DiscoPingRequestAnswersViaDerpThenDirect) {
  configure(/*discoKeys=*/true, /*endpoints=*/true);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1) && b_->derpConnected(1); }, 10s));
  // Before any data there is no direct path: the ping goes via DERP.
  auto viaDerp = a_->ping(b_->nodePublic());
  ASSERT_TRUE(viaDerp) << viaDerp.error().message;
  EXPECT_EQ(viaDerp->err, "");
  EXPECT_EQ(viaDerp->derpRegionId, 1);
  EXPECT_EQ(viaDerp->derpRegionCode, "test");
  EXPECT_GT(viaDerp->latencyNs, 0);
  ASSERT_TRUE(pumpUntil([&] { return direct(*a_, *b_); }, 5s));
  auto viaUdp = a_->ping(b_->nodePublic());
  ASSERT_TRUE(viaUdp);
  EXPECT_EQ(viaUdp->endpoint, b_->endpoints().front());
  EXPECT_EQ(viaUdp->derpRegionId, 0);
  auto unknown = a_->ping(key::NodePrivate::generate().publicKey());
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->err, "no matching peer");
}

TEST_F(MagicsockTest, WrongDiscoKeyKeepsTrafficOnDerp) {
  auto wrong = key::DiscoPrivate::generate().publicKey().toString();
  configure(/*discoKeys=*/true, /*endpoints=*/true, wrong);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1) && b_->derpConnected(1); }, 10s));
  bool wentDirect = pumpUntil([&] { return direct(*a_, *b_) || direct(*b_, *a_); }, 8s);
  EXPECT_FALSE(wentDirect) << "a direct path was assumed without disco proof";
  EXPECT_GE(countFrom(*b_, a_->nodePublic(), 1), 10u);
  EXPECT_GE(countFrom(*a_, b_->nodePublic(), 1), 10u);
}

TEST_F(MagicsockTest, DerpServerRestartReconnectsAndTrafficResumes) {
  configure(false, false);
  ASSERT_TRUE(pumpUntil([&] { return countFrom(*b_, a_->nodePublic(), 1) >= 3; }, 10s));
  uint16_t port = derp_->port();
  uint16_t stunPort = derp_->stunPort();
  derp_->stop();
  derp_.reset();
  ASSERT_TRUE(runUntil(
      loop_, [&] { return !a_->derpConnected(1) && !b_->derpConnected(1); }, 10s));
  std::this_thread::sleep_for(500ms);
  auto s = testderp::DerpServer::start(testderp::ServerOptions{.port = port, .stunPort = stunPort});
  ASSERT_TRUE(s) << s.error().message;
  derp_ = std::move(*s);
  size_t before = countFrom(*b_, a_->nodePublic(), 1);
  ASSERT_TRUE(pumpUntil([&] { return countFrom(*b_, a_->nodePublic(), 1) >= before + 3; }, 15s))
      << "no traffic after the DERP server came back";
  EXPECT_TRUE(a_->derpConnected(1));
}

TEST_F(MagicsockTest, NodeKeyCommitReconnectsDerpWithTheNewKey) {
  configure(false, false);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1) && b_->derpConnected(1); }, 10s));
  int seals = a_->sealCalls();
  uint64_t handshakes = derp_->stats().handshakes;
  a_->rotateNodeKey();
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->sealCalls() > seals && derp_->stats().handshakes > handshakes; }, 10s));
  // b learns a's new key (as control would tell it) and traffic flows to it.
  auto r = b_->setConfig(target_, {Node::PeerSpec{a_->nodePublic(), "", {}, 1}});
  ASSERT_TRUE(r);
  ASSERT_TRUE(pumpUntil([&] { return countFrom(*a_, b_->nodePublic(), 1) >= 3; }, 10s));
}

TEST_F(MagicsockTest, NetcheckReportsRegionLatencyAndMappedEndpoint) {
  configure(false, false);
  auto n = a_->netcheck();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_TRUE(n->udp);
  ASSERT_TRUE(n->latencyNs.count(1));
  EXPECT_GT(n->latencyNs[1], 0);
  EXPECT_EQ(n->globalV4, "127.0.0.1:" + std::to_string(a_->localPort()));
  EXPECT_EQ(n->preferredDerp, 1);
}

TEST_F(MagicsockTest, HostNameNodesAndLocalAddressesWorkUnderTheServiceSandbox) {
  // A node known only by name: DERP dial and STUN resolve it (Asio's resolver thread), and
  // without TS_DEBUG_OMIT_LOCAL_ADDRS the interface addresses are read (netlink) — all inside
  // the service's seccomp filter. Nothing is sent to those addresses: there are no peers.
  Node c(loop_, "c");
  auto r = c.start({{"TS_DEBUG_OMIT_LOCAL_ADDRS", "0"}});
  ASSERT_TRUE(r) << r.error().message;
  DerpTarget byName = target_;
  byName.hostName = "localhost";
  ASSERT_TRUE(c.setConfig(byName, {}));
  ASSERT_TRUE(runUntil(
      loop_, [&] { return c.derpConnected(1); }, 10s))
      << c.log();
  auto n = c.netcheck();
  ASSERT_TRUE(n) << n.error().message << c.log();
  EXPECT_TRUE(n->udp) << c.log();
  ASSERT_TRUE(runUntil(
      loop_, [&] { return c.endpoints().size() >= 2; }, 5s))
      << c.log();  // STUN + local
  EXPECT_TRUE(c.alive()) << c.log();
}

TEST_F(MagicsockTest, PeersHomeRegionIsDialledOnDemand) {
  // a's home is region 1 and b's is region 2 (the other region is NoMeasureNoHome for each), so
  // each reaches the other through the peer's home: a second DERP connection opened on demand.
  auto s2 = testderp::DerpServer::start(testderp::ServerOptions{.stunPort = 0});
  ASSERT_TRUE(s2);
  DerpTarget r1 = target_, r2{"127.0.0.1", (*s2)->port(), (*s2)->stunPort(), "", 2, false};
  DerpTarget r1NoHome = r1, r2NoHome = r2;
  r1NoHome.noMeasureNoHome = true;
  r2NoHome.noMeasureNoHome = true;
  ASSERT_TRUE(a_->setConfig({r1, r2NoHome}, {Node::PeerSpec{b_->nodePublic(), "", {}, 2}}));
  ASSERT_TRUE(b_->setConfig({r1NoHome, r2}, {Node::PeerSpec{a_->nodePublic(), "", {}, 1}}));
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->home() == 1 && b_->home() == 2; }, 10s));
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1) && b_->derpConnected(2); }, 10s));
  EXPECT_FALSE(a_->derpConnected(2));
  ASSERT_TRUE(pumpUntil(
      [&] { return countFrom(*b_, a_->nodePublic(), 1) >= 3 && countFrom(*a_, b_->nodePublic(), 1) >= 3; },
      10s));
  EXPECT_TRUE(a_->derpConnected(2));  // opened for b's home
  EXPECT_TRUE(b_->derpConnected(1));
  bool viaRegion2 = false;
  for (const auto& r : b_->received()) viaRegion2 |= r.source == "2";
  EXPECT_TRUE(viaRegion2);  // a wrote into b's home region
  (*s2)->stop();
}

TEST_F(MagicsockTest, WantRunningFalseClosesDerpAndTrueReconnects) {
  configure(false, false);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1); }, 10s));
  ASSERT_TRUE(a_->setConfig(target_, {}, /*wantRunning=*/false));
  ASSERT_TRUE(runUntil(
      loop_, [&] { return !a_->derpConnected(1) && derp_->stats().clients == 1; }, 5s));
  ASSERT_TRUE(a_->setConfig(target_, {}, /*wantRunning=*/true));
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1); }, 10s));
}

// A netmap of many peers gives each its first (DERP) path in one setConfig: magicsockd must
// publish magicsockd.paths once per loop pass, not once per peer (each event carries every
// peer, so per-peer publishing is quadratic: a 10k-peer join took 54 s before DERP connected).
TEST_F(MagicsockTest, ManyNewPeersArePublishedInAFewPathsEvents) {
  constexpr size_t PEERS = 400;
  std::vector<Node::PeerSpec> peers;
  for (size_t i = 0; i < PEERS; ++i) {
    peers.push_back(Node::PeerSpec{key::NodePrivate::generate().publicKey(),
                                   key::DiscoPrivate::generate().publicKey().toString(), {}, 1});
  }
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->pathEvents() > 0; }, 5s));  // the start-up event
  uint64_t before = a_->pathEvents();
  ASSERT_TRUE(a_->setConfig(target_, peers));
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->pathTo(peers.back().node).has_value(); }, 20s))
      << "the last new peer never appeared in magicsockd.paths";
  // Per-peer publishing would show ~PEERS events here; the 1 Hz timer may add a few.
  EXPECT_LE(a_->pathEvents() - before, 10u);
}

// Every byte magicsockd reads or writes on any fd (bus sockets, pipes, DERP TCP, UDP) during a
// DERP login, captured with strace: the node public key is there (positive control: ClientInfo),
// the node private key never is.
TEST(MagicsockCapture, LoginTrafficNeverCarriesTheNodePrivateKey) {
  crypto::init();
  if (!std::filesystem::exists(binDir() + "/magicsockd")) GTEST_SKIP() << "magicsockd is not built";
  if (!std::filesystem::exists("/usr/bin/strace")) GTEST_SKIP() << "strace not installed";
  auto s = testderp::DerpServer::start(testderp::ServerOptions{.stunPort = 0});
  ASSERT_TRUE(s);
  char dir[] = "/tmp/msc-cap-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string trace = std::string(dir) + "/trace";
  bus::Loop loop;
  {
    Node c(loop, "cap");
    c.setWrapper({"/usr/bin/strace", "-f", "-qq", "-xx", "-s", "1000000", "-o", trace, "-e",
                  "trace=read,write,readv,writev,recvfrom,sendto,recvmsg,sendmsg,recvmmsg,sendmmsg"});
    auto r = c.start();
    if (!r && r.error().message.find("ptrace") != std::string::npos) GTEST_SKIP() << "ptrace not permitted";
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(c.setConfig(DerpTarget{"127.0.0.1", (*s)->port(), (*s)->stunPort()}, {}));
    ASSERT_TRUE(runUntil(
        loop, [&] { return c.derpConnected(1); }, 20s))
        << c.log();
    auto hexEscaped = [](const std::string& hex) {
      std::string out;
      for (size_t i = 0; i + 1 < hex.size(); i += 2) out += "\\x" + hex.substr(i, 2);
      return out;
    };
    std::string pubNeedle = hexEscaped(c.nodePublicHex());
    std::string privNeedle = hexEscaped(c.nodePrivateHex());
    c.kill();
    std::ifstream in(trace);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // strace -xx writes every byte as \xNN, the needles are escaped the same way.
    EXPECT_GT(all.size(), 1000u);
    EXPECT_NE(all.find(pubNeedle), std::string::npos) << "capture did not see the ClientInfo";
    EXPECT_EQ(all.find(privNeedle), std::string::npos) << "node private key bytes seen by magicsockd";
  }
  std::filesystem::remove_all(dir);
}

TEST(MagicsockV6, DerpAndStunOverIpv6Loopback) {
  crypto::init();
  if (!std::filesystem::exists(binDir() + "/magicsockd")) GTEST_SKIP() << "magicsockd is not built";
  auto s = testderp::DerpServer::start(testderp::ServerOptions{.host = "::1", .stunPort = 0});
  if (!s) GTEST_SKIP() << "no IPv6 loopback: " << s.error().message;
  bus::Loop loop;
  Node c(loop, "c6");
  auto r = c.start();
  ASSERT_TRUE(r) << r.error().message;
  DerpTarget t{"::1", (*s)->port(), (*s)->stunPort()};
  ASSERT_TRUE(c.setConfig(t, {}));
  ASSERT_TRUE(runUntil(
      loop, [&] { return c.derpConnected(1); }, 10s))
      << c.log();
  auto n = c.netcheck();
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_TRUE(n->udp);
  EXPECT_EQ(n->globalV4, "");
  ASSERT_TRUE(runUntil(
      loop, [&] { return !c.endpoints().empty(); }, 5s));
  EXPECT_EQ(c.endpoints().front().rfind("[::1]:", 0), 0u) << c.endpoints().front();
}

int udpSocketTo(uint16_t port, sockaddr_in& to) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  to = {};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return fd;
}

TEST_F(MagicsockTest, HostileInputIsDroppedAndCountedWithoutCrashing) {
  configure(/*discoKeys=*/true, /*endpoints=*/false);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return a_->derpConnected(1) && b_->derpConnected(1); }, 10s));
  sockaddr_in to;
  int fd = udpSocketTo(a_->localPort(), to);
  std::mt19937 rng(42);
  auto sendRaw = [&](const Bytes& b) {
    sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  };
  for (int i = 0; i < 2000; ++i) {
    Bytes b(rng() % 1500 + 1);
    for (auto& x : b) x = uint8_t(rng());
    switch (i % 5) {
      case 0:  // random junk
        break;
      case 1: {  // STUN flood: requests and responses nobody asked for
        auto req = stun::bindingRequest(stun::newTxId());
        b.assign(req.begin(), req.end());
        if (i % 2) b = stun::bindingResponse(stun::newTxId(), wire::IpPort::v4(1, 2, 3, 4, 5));
        break;
      }
      case 2:  // disco magic + a known sender key + a box that does not open
        b.resize(200);
        std::copy(std::begin(disco::MAGIC), std::end(disco::MAGIC), b.begin());
        {
          auto k = key::DiscoPublic::parse(b_->discoPublic());
          std::copy(k->raw().begin(), k->raw().end(), b.begin() + disco::MAGIC_LEN);
        }
        break;
      case 3:  // disco from an unknown key
        b.resize(100);
        std::copy(std::begin(disco::MAGIC), std::end(disco::MAGIC), b.begin());
        break;
      case 4:  // WireGuard-looking data from an unknown sender (goes to wgd tagged "unknown")
        b = fakeTransport(uint32_t(i));
        break;
    }
    sendRaw(b);
  }
  // Oversized datagram (bigger than a receive slot).
  sendRaw(Bytes(4000, 0x04));
  close(fd);
  // Short/garbled packets on the wgd pipe.
  a_->sendData(key::NodePublic(), Bytes{});
  a_->sendData(key::NodePrivate::generate().publicKey(), Bytes{1, 2, 3});  // not a peer
  ASSERT_TRUE(pumpUntil([&] { return countFrom(*b_, a_->nodePublic(), 1) >= 3; }, 10s));
  EXPECT_TRUE(a_->alive());
  size_t unknown = 0;
  for (const auto& r : a_->received()) unknown += r.peer.isZero() ? 1 : 0;
  EXPECT_GT(unknown, 0u);  // unknown senders are passed to wgd untagged, never guessed
  a_->kill();
  auto log = a_->log();
  auto pos = log.find("magicsock.drops");
  ASSERT_NE(pos, std::string::npos) << log;
  auto line = log.substr(pos, log.find('\n', pos) - pos);
  EXPECT_EQ(line.find("disco_bad_box=0 "), std::string::npos) << line;
  EXPECT_EQ(line.find("stun_unsolicited=0 "), std::string::npos) << line;
  EXPECT_EQ(line.find("disco_unknown_sender=0 "), std::string::npos) << line;
  EXPECT_EQ(line.find("udp_trunc=0"), std::string::npos) << line;
}

// Regression (two-node tailnet crash, SIGSEGV in sodium_bin2hex): a peer kept from the previous
// config whose home DERP arrives later gets a path change while its config is applied; the path
// publication walked the old peer map, whose kept entry was already moved out (null).
TEST_F(MagicsockTest, KeptPeerGettingItsHomeRegionLaterDoesNotCrash) {
  ASSERT_TRUE(a_->setConfig(target_, {}));
  Node::PeerSpec bForA{b_->nodePublic(), b_->discoPublic(), {}, /*homeDerp=*/0};
  auto r1 = a_->setConfig(target_, {bForA});
  ASSERT_TRUE(r1) << r1.error().message;
  bForA.homeDerp = 1;
  auto r2 = a_->setConfig(target_, {bForA});
  ASSERT_TRUE(r2) << r2.error().message;
  ASSERT_TRUE(a_->alive());
  ASSERT_TRUE(runUntil(
      loop_,
      [&] {
        auto p = a_->pathTo(b_->nodePublic());
        return p && p->relayRegion == 1;
      },
      5s));
  // The same peer listed twice in one config (with a new home) is applied once, without crashing.
  Node::PeerSpec again = bForA;
  again.homeDerp = 2;
  auto r3 = a_->setConfig(target_, {bForA, again});
  ASSERT_TRUE(r3) << r3.error().message;
  ASSERT_TRUE(a_->alive());
  // And the peer still works end to end over its home region.
  ASSERT_TRUE(b_->setConfig(target_, {Node::PeerSpec{a_->nodePublic(), a_->discoPublic(), {}, 1}}));
  ASSERT_TRUE(pumpUntil(
      [&] { return countFrom(*b_, a_->nodePublic(), 1) >= 3 && countFrom(*a_, b_->nodePublic(), 1) >= 3; },
      10s));
  EXPECT_TRUE(a_->alive());
  EXPECT_TRUE(b_->alive());
}
}  // namespace
}  // namespace tnet::magicsocktest
