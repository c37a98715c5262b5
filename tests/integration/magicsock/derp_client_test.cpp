// magicsockd's DERP client against testderp (in-process) and against hostile canned servers.
#include "services/magicsockd/app/derp_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "libs/crypto/crypto.h"
#include "libs/wire/derp_info.h"
#include "tests/integration/magicsock/magicsock_fixture.h"
#include "tests/integration/testderp/derp_server.h"
#include "tests/integration/testderp/tls_front.h"

namespace tnet::magicsockd {
namespace {

using namespace std::chrono_literals;
using magicsocktest::runUntil;

struct Events {
  bool connected = false;
  std::optional<std::string> closed;
  std::vector<std::pair<derp::NodePublic, Bytes>> packets;
  std::vector<derp::PeerGone> gone;
  int seals = 0;
};

std::shared_ptr<DerpClient> makeClient(bus::Loop& loop, std::vector<DerpNodeDial> nodes,
                                       const key::NodePrivate& key, Events& ev, bool failSeal = false,
                                       bool plainHttp = true) {
  DerpClientCallbacks cb;
  cb.sealClientInfo = [&key, &ev, failSeal](const derp::NodePublic& server,
                                            std::function<void(Result<Bytes>)> done) {
    ++ev.seals;
    if (failSeal) return done(Error::failed("no node key yet"));
    Bytes out;
    if (!derp::appendClientInfo(out, derp::ClientInfo{.version = 2, .canAckPings = true}, key, server)) {
      return done(Error::failed("seal"));
    }
    done(Bytes(out.begin() + derp::FRAME_HEADER_LEN, out.end()));
  };
  cb.onConnected = [&ev] { ev.connected = true; };
  cb.onPacket = [&ev](const derp::RecvPacket& rp) {
    ev.packets.emplace_back(rp.source, Bytes(rp.data.begin(), rp.data.end()));
  };
  cb.onPeerGone = [&ev](const derp::PeerGone& pg) { ev.gone.push_back(pg); };
  cb.onClosed = [&ev](const std::string& why) { ev.closed = why; };
  auto c = std::make_shared<DerpClient>(loop, 1, std::move(nodes), plainHttp, std::move(cb));
  c->connect();
  return c;
}

DerpNodeDial nodeAt(uint16_t port) {
  DerpNodeDial n;
  n.name = "1a";
  n.hostName = "127.0.0.1";
  n.ipv4 = "127.0.0.1";
  n.ipv6 = "none";
  n.derpPort = port;
  return n;
}

// Accepts one connection, reads the request head, writes `reply`, keeps the socket open briefly.
class CannedServer {
 public:
  explicit CannedServer(Bytes reply) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 4);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, reply = std::move(reply)] {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 5000) != 1) return;
      int c = accept(fd_, nullptr, nullptr);
      std::string head;
      char ch;
      while (head.find("\r\n\r\n") == std::string::npos && recv(c, &ch, 1, 0) == 1) head.push_back(ch);
      send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      std::this_thread::sleep_for(300ms);
      close(c);
    });
  }
  ~CannedServer() {
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_;
  std::thread thread_;
};

Bytes text(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

class DerpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    auto s = testderp::DerpServer::start(testderp::ServerOptions{});
    ASSERT_TRUE(s);
    server_ = std::move(*s);
  }
  bus::Loop loop_;
  std::unique_ptr<testderp::DerpServer> server_;
};

TEST_F(DerpClientTest, LogsInWithTheSealedClientInfoAndRelaysPackets) {
  auto ka = key::NodePrivate::generate(), kb = key::NodePrivate::generate();
  Events ea, eb;
  auto a = makeClient(loop_, {nodeAt(server_->port())}, ka, ea);
  auto b = makeClient(loop_, {nodeAt(server_->port())}, kb, eb);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return ea.connected && eb.connected; }, 5s));
  EXPECT_EQ(ea.seals, 1);
  EXPECT_TRUE(a->connected());
  ASSERT_TRUE(a->send(kb.publicKey(), Bytes{1, 2, 3}));
  a->notePreferred(true);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return !eb.packets.empty(); }, 5s));
  EXPECT_EQ(eb.packets[0].first, ka.publicKey());
  EXPECT_EQ(eb.packets[0].second, (Bytes{1, 2, 3}));
  // a leaves: b hears PeerGone(Disconnected) for a.
  a->close();
  a.reset();
  ASSERT_TRUE(runUntil(
      loop_, [&] { return !eb.gone.empty(); }, 5s));
  EXPECT_EQ(eb.gone[0].peer, ka.publicKey());
  EXPECT_FALSE(ea.closed.has_value());  // close() reports nothing
}

TEST_F(DerpClientTest, PacketsWrittenWhileDiallingAreSentAfterLogin) {
  auto ka = key::NodePrivate::generate(), kb = key::NodePrivate::generate();
  Events ea, eb;
  auto b = makeClient(loop_, {nodeAt(server_->port())}, kb, eb);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return eb.connected; }, 5s));
  auto a = makeClient(loop_, {nodeAt(server_->port())}, ka, ea);
  ASSERT_FALSE(a->connected());
  for (uint8_t i = 0; i < DerpClient::SEND_QUEUE_PACKETS; ++i) ASSERT_TRUE(a->send(kb.publicKey(), Bytes{i}));
  EXPECT_FALSE(a->send(kb.publicKey(), Bytes{99}));  // bounded like the connected queue
  ASSERT_TRUE(runUntil(
      loop_, [&] { return eb.packets.size() == DerpClient::SEND_QUEUE_PACKETS; }, 5s));
  for (uint8_t i = 0; i < DerpClient::SEND_QUEUE_PACKETS; ++i) EXPECT_EQ(eb.packets[i].second, Bytes{i});
  EXPECT_EQ(a->stats().dropsQueueFull, 1u);
}

TEST_F(DerpClientTest, ServerGoingAwayIsReported) {
  auto k = key::NodePrivate::generate();
  Events ev;
  auto c = makeClient(loop_, {nodeAt(server_->port())}, k, ev);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return ev.connected; }, 5s));
  server_->stop();
  ASSERT_TRUE(runUntil(
      loop_, [&] { return ev.closed.has_value(); }, 5s));
  EXPECT_FALSE(c->connected());
  EXPECT_FALSE(c->send(k.publicKey(), Bytes{1}));
  EXPECT_EQ(c->stats().dropsQueueFull, 1u);
}

TEST_F(DerpClientTest, SealFailureClosesWithTheReason) {
  auto k = key::NodePrivate::generate();
  Events ev;
  auto c = makeClient(loop_, {nodeAt(server_->port())}, k, ev, /*failSeal=*/true);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return ev.closed.has_value(); }, 5s));
  EXPECT_NE(ev.closed->find("derpClientInfo"), std::string::npos) << *ev.closed;
}

TEST_F(DerpClientTest, StunOnlyNodesAreSkippedAndUnreachableNodesFail) {
  auto k = key::NodePrivate::generate();
  Events ev;
  auto stunOnly = nodeAt(server_->port());
  stunOnly.stunOnly = true;
  auto c = makeClient(loop_, {stunOnly}, k, ev);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return ev.closed.has_value(); }, 5s));
  EXPECT_EQ(*ev.closed, "no DERP node reachable");
  // A closed port first, then the real node: the second one is used.
  Events ev2;
  auto closedPort = nodeAt(1);
  closedPort.name = "1x";
  auto c2 = makeClient(loop_, {closedPort, nodeAt(server_->port())}, k, ev2);
  ASSERT_TRUE(runUntil(
      loop_, [&] { return ev2.connected; }, 5s));
  EXPECT_EQ(c2->nodeName(), "1a");
}

TEST_F(DerpClientTest, RefusedUpgradeAndHostileFramesClose) {
  auto k = key::NodePrivate::generate();
  {
    CannedServer s(text("HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n"));
    Events ev;
    auto c = makeClient(loop_, {nodeAt(s.port())}, k, ev);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev.closed.has_value(); }, 5s));
    EXPECT_NE(ev.closed->find("upgrade refused"), std::string::npos) << *ev.closed;
  }
  {
    // 101, then a frame header announcing 16 MiB: refused before any allocation.
    Bytes reply = text("HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\n\r\n");
    auto h = derp::frameHeader(derp::FrameType::SERVER_KEY, 16u << 20);
    reply.insert(reply.end(), h.begin(), h.end());
    CannedServer s(reply);
    Events ev;
    auto c = makeClient(loop_, {nodeAt(s.port())}, k, ev);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev.closed.has_value(); }, 5s));
    EXPECT_NE(ev.closed->find("protocol"), std::string::npos) << *ev.closed;
    EXPECT_EQ(ev.seals, 0);
  }
  {
    // A ServerKey frame with the wrong magic.
    Bytes reply = text("HTTP/1.1 101 Switching Protocols\r\n\r\n");
    Bytes f;
    ASSERT_TRUE(derp::appendFrame(f, derp::FrameType::SERVER_KEY, Bytes(40, 0x41)));
    reply.insert(reply.end(), f.begin(), f.end());
    CannedServer s(reply);
    Events ev;
    auto c = makeClient(loop_, {nodeAt(s.port())}, k, ev);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev.closed.has_value(); }, 5s));
    EXPECT_NE(ev.closed->find("ServerKey"), std::string::npos) << *ev.closed;
  }
  {
    // An endless HTTP head.
    CannedServer s(text("HTTP/1.1 101 OK\r\nX: " + std::string(20000, 'a')));
    Events ev;
    auto c = makeClient(loop_, {nodeAt(s.port())}, k, ev);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev.closed.has_value(); }, 5s));
    EXPECT_NE(ev.closed->find("too large"), std::string::npos) << *ev.closed;
  }
}

TEST_F(DerpClientTest, TlsVerifiesTheChainHonoursPinsAndInsecureForTests) {
  auto front = testderp::TlsFront::start("127.0.0.1", 0, server_->port(), "derp.test");
  ASSERT_TRUE(front) << front.error().message;
  auto k = key::NodePrivate::generate();
  auto tlsNode = [&] {
    auto n = nodeAt((*front)->port());
    n.hostName = "derp.test";  // SNI and the name verified; the IPv4 literal is dialled
    return n;
  };
  {
    // Self-signed: the system trust store rejects it.
    Events ev;
    auto c = makeClient(loop_, {tlsNode()}, k, ev, false, /*plainHttp=*/false);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev.closed.has_value(); }, 10s));
    EXPECT_FALSE(ev.connected);
    EXPECT_EQ(ev.seals, 0);
  }
  {
    auto n = tlsNode();
    n.certName = (*front)->certPin();
    Events ev;
    auto c = makeClient(loop_, {n}, k, ev, false, false);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev.connected || ev.closed.has_value(); }, 10s));
    EXPECT_TRUE(ev.connected) << ev.closed.value_or("");
  }
  {
    auto n = tlsNode();
    n.certName = "sha256-raw:" + std::string(64, '0');
    Events ev;
    auto c = makeClient(loop_, {n}, k, ev, false, false);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev.closed.has_value(); }, 10s));
    EXPECT_NE(ev.closed->find("pin"), std::string::npos) << *ev.closed;
  }
  {
    auto n = tlsNode();
    n.insecureForTests = true;
    Events ev;
    auto c = makeClient(loop_, {n}, k, ev, false, false);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev.connected || ev.closed.has_value(); }, 10s));
    EXPECT_TRUE(ev.connected) << ev.closed.value_or("");
    // Packets flow through TLS as well.
    auto k2 = key::NodePrivate::generate();
    Events ev2;
    auto c2 = makeClient(loop_, {n}, k2, ev2, false, false);
    ASSERT_TRUE(runUntil(
        loop_, [&] { return ev2.connected; }, 10s));
    ASSERT_TRUE(c->send(k2.publicKey(), Bytes(1000, 0x5a)));
    ASSERT_TRUE(runUntil(
        loop_, [&] { return !ev2.packets.empty(); }, 5s));
    EXPECT_EQ(ev2.packets[0].second, Bytes(1000, 0x5a));
  }
  (*front)->stop();
}

}  // namespace
}  // namespace tnet::magicsockd
