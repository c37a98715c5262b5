// Contract tests for testderp: a blocking client built from libs/wire's codecs talks to the
// in-process server (and once to the real binary) over loopback.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "libs/wire/derp.h"
#include "libs/wire/derp_frame_reader.h"
#include "libs/wire/derp_info.h"
#include "libs/wire/disco.h"
#include "libs/wire/stun.h"
#include "tests/integration/testderp/derp_server.h"
#include "tests/integration/testderp/http_head.h"

namespace tnet::testderp {
namespace {

using namespace std::chrono_literals;

int connectTcp(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void sendAll(int fd, ByteSpan b) {
  size_t off = 0;
  while (off < b.size()) {
    ssize_t n = send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += size_t(n);
  }
}
void sendAll(int fd, const std::string& s) {
  sendAll(fd, asBytes(s));
}

// A minimal blocking DERP client for the tests.
class TestClient {
 public:
  explicit TestClient(uint16_t port) : fd_(connectTcp(port)), key_(key::NodePrivate::generate()) {}
  ~TestClient() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }
  key::NodePublic pub() const { return key_.publicKey(); }

  // Reads until "\r\n\r\n"; the rest stays buffered for frames.
  std::string readHead() {
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      uint8_t c;
      if (!readSome(&c, 1, 3s)) return head;
      head.push_back(char(c));
    }
    return head;
  }

  bool upgrade(bool fastStart = false) {
    std::string req = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: DERP\r\n";
    if (fastStart) req += "Derp-Fast-Start: 1\r\n";
    sendAll(fd_, req + "\r\n");
    if (!fastStart) {
      head_ = readHead();
      if (head_.rfind("HTTP/1.1 101 ", 0) != 0) return false;
    }
    auto f = nextFrame(3s);
    if (!f || f->first != derp::FrameType::SERVER_KEY) return false;
    auto sk = derp::parseServerKey(derp::Frame{f->first, f->second});
    if (!sk) return false;
    serverPub_ = *sk;
    return true;
  }

  bool login() {
    if (!upgrade()) return false;
    Bytes out;
    if (!derp::appendClientInfo(out, derp::ClientInfo{.version = 2, .canAckPings = true}, key_, serverPub_))
      return false;
    sendAll(fd_, out);
    auto f = nextFrame(3s);
    if (!f || f->first != derp::FrameType::SERVER_INFO) return false;
    auto si = derp::openServerInfo(f->second, key_, serverPub_);
    return si && si->version == 2;
  }

  // The next whole frame (type, payload copy) or nullopt on timeout/EOF/error.
  std::optional<std::pair<derp::FrameType, Bytes>> nextFrame(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      ByteSpan in(buf_);
      auto f = reader_.next(in);
      if (!f) return std::nullopt;
      if (*f) {
        std::pair<derp::FrameType, Bytes> r{(*f)->type, Bytes((*f)->payload.begin(), (*f)->payload.end())};
        buf_.erase(buf_.begin(), buf_.begin() + long(buf_.size() - in.size()));
        return r;
      }
      buf_.clear();
      uint8_t tmp[65536];
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, int(left.count())) <= 0) return std::nullopt;
      ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return std::nullopt;
      buf_.assign(tmp, tmp + n);
    }
  }

  // Skips KeepAlives.
  std::optional<std::pair<derp::FrameType, Bytes>> nextNonKeepAlive(std::chrono::milliseconds timeout) {
    for (;;) {
      auto f = nextFrame(timeout);
      if (!f || f->first != derp::FrameType::KEEP_ALIVE) return f;
    }
  }

  bool closedByPeer(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      uint8_t tmp[4096];
      ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return true;
    }
    return false;
  }

  void send(ByteSpan b) { sendAll(fd_, b); }
  const std::string& head() const { return head_; }
  const key::NodePublic& serverPub() const { return serverPub_; }

 private:
  bool readSome(uint8_t* p, size_t n, std::chrono::milliseconds timeout) {
    pollfd pf{fd_, POLLIN, 0};
    if (poll(&pf, 1, int(timeout.count())) <= 0) return false;
    return recv(fd_, p, n, 0) == ssize_t(n);
  }

  int fd_;
  key::NodePrivate key_;
  key::NodePublic serverPub_;
  std::string head_;
  Bytes buf_;
  derp::FrameReader reader_{derp::ReaderRole::CLIENT};
};

std::unique_ptr<DerpServer> startServer(ServerOptions o = {}) {
  o.stunPort = 0;
  auto s = DerpServer::start(std::move(o));
  EXPECT_TRUE(s) << s.error().message;
  return std::move(*s);
}

Bytes discoLooking() {
  Bytes b(disco::WRAPPER_MIN_LEN + 20, 0x11);
  std::copy(std::begin(disco::MAGIC), std::end(disco::MAGIC), b.begin());
  return b;
}

TEST(TestDerp, UpgradeAnswers101WithVersionAndKeyThenServerKey) {
  auto s = startServer();
  TestClient c(s->port());
  ASSERT_TRUE(c.upgrade());
  EXPECT_NE(c.head().find("Upgrade: DERP\r\n"), std::string::npos);
  EXPECT_NE(c.head().find("Derp-Version: 2\r\n"), std::string::npos);
  EXPECT_NE(c.head().find("Derp-Public-Key: " + s->serverPublic().untypedHex() + "\r\n"), std::string::npos);
  EXPECT_EQ(c.serverPub(), s->serverPublic());
}

TEST(TestDerp, FastStartWritesNoHttpResponse) {
  auto s = startServer();
  TestClient c(s->port());
  ASSERT_TRUE(c.upgrade(/*fastStart=*/true));  // the first bytes parsed as a ServerKey frame
  EXPECT_EQ(c.serverPub(), s->serverPublic());
}

TEST(TestDerp, LoginOpensClientInfoAndSealsServerInfo) {
  auto s = startServer();
  TestClient c(s->port());
  ASSERT_TRUE(c.login());
  EXPECT_EQ(s->stats().handshakes, 1u);
}

TEST(TestDerp, ClientInfoSealedWithAnotherKeyIsRefused) {
  auto s = startServer();
  TestClient c(s->port());
  ASSERT_TRUE(c.upgrade());
  // Claim key A but seal with key B: the box does not open.
  auto a = key::NodePrivate::generate();
  auto b = key::NodePrivate::generate();
  Bytes out;
  ASSERT_TRUE(derp::appendClientInfo(out, derp::ClientInfo{.version = 2}, b, s->serverPublic()));
  auto pubA = a.publicKey();
  std::copy(pubA.raw().begin(), pubA.raw().end(), out.begin() + derp::FRAME_HEADER_LEN);
  c.send(out);
  EXPECT_TRUE(c.closedByPeer(3s));
  EXPECT_EQ(s->stats().handshakes, 0u);
  EXPECT_EQ(s->stats().handshakeFailures, 1u);
}

TEST(TestDerp, ForwardsSendPacketAsRecvPacketWithSourceKey) {
  auto s = startServer();
  TestClient a(s->port()), b(s->port());
  ASSERT_TRUE(a.login());
  ASSERT_TRUE(b.login());
  Bytes payload = {1, 0, 0, 0, 9, 8, 7};
  Bytes out;
  ASSERT_TRUE(derp::appendSendPacket(out, b.pub(), payload));
  a.send(out);
  auto f = b.nextNonKeepAlive(3s);
  ASSERT_TRUE(f);
  auto msg = derp::decodeServerFrame(derp::Frame{f->first, f->second});
  auto* rp = std::get_if<derp::RecvPacket>(&msg);
  ASSERT_NE(rp, nullptr);
  EXPECT_EQ(rp->source, a.pub());
  EXPECT_EQ(Bytes(rp->data.begin(), rp->data.end()), payload);
  EXPECT_EQ(s->stats().forwarded, 1u);
}

TEST(TestDerp, DiscoToAbsentPeerGetsPeerGoneNotHereOthersAreDroppedSilently) {
  auto s = startServer();
  TestClient a(s->port());
  ASSERT_TRUE(a.login());
  auto absent = key::NodePrivate::generate().publicKey();
  Bytes out;
  ASSERT_TRUE(derp::appendSendPacket(out, absent, Bytes{4, 0, 0, 0, 1, 2, 3}));  // not disco
  ASSERT_TRUE(derp::appendSendPacket(out, absent, discoLooking()));
  a.send(out);
  auto f = a.nextNonKeepAlive(3s);
  ASSERT_TRUE(f);
  auto msg = derp::decodeServerFrame(derp::Frame{f->first, f->second});
  auto* pg = std::get_if<derp::PeerGone>(&msg);
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->peer, absent);
  EXPECT_EQ(pg->reason, derp::PeerGoneReason::NOT_HERE);
  EXPECT_EQ(s->stats().droppedNoPeer, 2u);
  EXPECT_EQ(s->stats().peerGoneSent, 1u);  // only for the disco-looking one
}

TEST(TestDerp, PeerGoneNotHereIsRateLimited) {
  auto s = startServer();
  TestClient a(s->port());
  ASSERT_TRUE(a.login());
  auto absent = key::NodePrivate::generate().publicKey();
  Bytes out;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(derp::appendSendPacket(out, absent, discoLooking()));
  derp::appendPing(out, derp::PingData{9, 9, 9, 9, 9, 9, 9, 9});
  a.send(out);
  int gone = 0;
  for (;;) {
    auto f = a.nextNonKeepAlive(3s);
    ASSERT_TRUE(f);
    if (f->first == derp::FrameType::PONG) break;
    if (f->first == derp::FrameType::PEER_GONE) ++gone;
  }
  EXPECT_EQ(gone, 3);  // burst 3, then 1/s
}

TEST(TestDerp, LeavingClientSendsPeerGoneDisconnectedToThoseItSentTo) {
  auto s = startServer();
  auto a = std::make_unique<TestClient>(s->port());
  TestClient b(s->port());
  ASSERT_TRUE(a->login());
  ASSERT_TRUE(b.login());
  auto aPub = a->pub();
  Bytes out;
  ASSERT_TRUE(derp::appendSendPacket(out, b.pub(), Bytes{1, 2, 3}));
  a->send(out);
  ASSERT_TRUE(b.nextNonKeepAlive(3s));
  a.reset();
  auto f = b.nextNonKeepAlive(3s);
  ASSERT_TRUE(f);
  auto msg = derp::decodeServerFrame(derp::Frame{f->first, f->second});
  auto* pg = std::get_if<derp::PeerGone>(&msg);
  ASSERT_NE(pg, nullptr);
  EXPECT_EQ(pg->peer, aPub);
  EXPECT_EQ(pg->reason, derp::PeerGoneReason::DISCONNECTED);
}

TEST(TestDerp, PingIsAnsweredWithPong) {
  auto s = startServer();
  TestClient a(s->port());
  ASSERT_TRUE(a.login());
  Bytes out;
  derp::PingData d{1, 2, 3, 4, 5, 6, 7, 8};
  derp::appendPing(out, d);
  a.send(out);
  auto f = a.nextNonKeepAlive(3s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->first, derp::FrameType::PONG);
  EXPECT_EQ(f->second, Bytes(d.begin(), d.end()));
}

TEST(TestDerp, SendsKeepAlivesAtTheConfiguredInterval) {
  ServerOptions o;
  o.keepAlive = 100ms;
  o.keepAliveJitter = false;
  auto s = startServer(std::move(o));
  TestClient a(s->port());
  ASSERT_TRUE(a.login());
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    auto f = a.nextFrame(2s);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->first, derp::FrameType::KEEP_ALIVE);
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
}

TEST(TestDerp, OversizedFrameClosesOnlyThatConnection) {
  auto s = startServer();
  TestClient bad(s->port()), good(s->port());
  ASSERT_TRUE(bad.login());
  ASSERT_TRUE(good.login());
  auto hdr = derp::frameHeader(derp::FrameType::SEND_PACKET, 10u << 20);  // over keys + 64 KiB
  bad.send(hdr);
  EXPECT_TRUE(bad.closedByPeer(3s));
  EXPECT_EQ(s->stats().protocolErrors, 1u);
  Bytes out;
  derp::appendPing(out, derp::PingData{});
  good.send(out);
  auto f = good.nextNonKeepAlive(3s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->first, derp::FrameType::PONG);
}

TEST(TestDerp, TruncatedSendPacketAndMeshFramesClose) {
  auto s = startServer();
  {
    TestClient c(s->port());
    ASSERT_TRUE(c.login());
    Bytes out;
    derp::appendFrameHeader(out, derp::FrameType::SEND_PACKET, 10);  // shorter than a key
    out.resize(out.size() + 10);
    c.send(out);
    EXPECT_TRUE(c.closedByPeer(3s));
  }
  {
    TestClient c(s->port());
    ASSERT_TRUE(c.login());
    Bytes out;
    derp::appendWatchConns(out);  // needs a mesh key
    c.send(out);
    EXPECT_TRUE(c.closedByPeer(3s));
  }
  {
    TestClient c(s->port());
    ASSERT_TRUE(c.upgrade());
    Bytes out;
    derp::appendPing(out, derp::PingData{});  // not ClientInfo first
    c.send(out);
    EXPECT_TRUE(c.closedByPeer(3s));
  }
  EXPECT_EQ(s->stats().handshakes, 2u);
}

TEST(TestDerp, UnknownFrameTypesAreSkipped) {
  auto s = startServer();
  TestClient c(s->port());
  ASSERT_TRUE(c.login());
  Bytes out;
  ASSERT_TRUE(derp::appendFrame(out, derp::FrameType(0x7f), Bytes(100000, 0xaa)));
  derp::appendPing(out, derp::PingData{});
  c.send(out);
  auto f = c.nextNonKeepAlive(3s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->first, derp::FrameType::PONG);
}

std::string httpExchange(uint16_t port, const std::string& req) {
  int fd = connectTcp(port);
  sendAll(fd, req);
  std::string resp;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 3000) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    resp.append(buf, size_t(n));
  }
  close(fd);
  return resp;
}

TEST(TestDerp, PlainHttpEndpoints) {
  auto s = startServer();
  EXPECT_EQ(httpExchange(s->port(), "GET /derp HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 426 ", 0), 0u);
  EXPECT_EQ(httpExchange(s->port(), "GET /derp HTTP/1.1\r\nUpgrade: h2c\r\n\r\n").rfind("HTTP/1.1 426 ", 0),
            0u);
  auto probe = httpExchange(s->port(), "HEAD /derp/probe HTTP/1.1\r\n\r\n");
  EXPECT_EQ(probe.rfind("HTTP/1.1 200 ", 0), 0u);
  EXPECT_NE(probe.find("Access-Control-Allow-Origin: *\r\n"), std::string::npos);
  auto g = httpExchange(s->port(), "GET /generate_204 HTTP/1.1\r\nX-Tailscale-Challenge: abc.1\r\n\r\n");
  EXPECT_EQ(g.rfind("HTTP/1.1 204 ", 0), 0u);
  EXPECT_NE(g.find("X-Tailscale-Response: response abc.1\r\n"), std::string::npos);
  auto bad = httpExchange(s->port(), "GET /generate_204 HTTP/1.1\r\nX-Tailscale-Challenge: a b\r\n\r\n");
  EXPECT_EQ(bad.find("X-Tailscale-Response"), std::string::npos);
  EXPECT_EQ(httpExchange(s->port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(httpExchange(s->port(), "GET /x HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0), 0u);
  // An endless head is cut off.
  EXPECT_EQ(httpExchange(s->port(), "GET /derp HTTP/1.1\r\nX: " + std::string(20000, 'a')), "");
}

TEST(TestDerp, StunResponderAnswersWithTheObservedSource) {
  auto s = startServer();
  ASSERT_NE(s->stunPort(), 0);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local), 0);
  socklen_t ll = sizeof local;
  getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(s->stunPort());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Garbage first: dropped and counted, no answer.
  uint8_t junk[50] = {0};
  sendto(fd, junk, sizeof junk, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  auto tx = stun::newTxId();
  auto req = stun::bindingRequest(tx);
  sendto(fd, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 3000), 1);
  uint8_t buf[512];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  auto mapped = stun::parseResponseFor(ByteSpan(buf, size_t(n)), tx);
  ASSERT_TRUE(mapped) << mapped.error().message;
  EXPECT_EQ(mapped->toString(), "127.0.0.1:" + std::to_string(ntohs(local.sin_port)));
  EXPECT_EQ(s->stats().stunDropped, 1u);
  EXPECT_EQ(s->stats().stunRequests, 1u);
  close(fd);
}

TEST(TestDerp, LastConnectionWithAKeyReceives) {
  auto s = startServer();
  TestClient a(s->port()), b(s->port());
  ASSERT_TRUE(a.login());
  ASSERT_TRUE(b.login());
  Bytes out;
  ASSERT_TRUE(derp::appendSendPacket(out, b.pub(), Bytes{7}));
  a.send(out);
  ASSERT_TRUE(b.nextNonKeepAlive(3s));
}

TEST(TestDerp, BinaryWritesPortFileAndStopsOnSigterm) {
  char dir[] = "/tmp/testderp-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string portFile = std::string(dir) + "/ports.json";
  std::string keyFile = std::string(dir) + "/key";
  auto runOnce = [&]() -> std::string {
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      execl(TESTDERP_BIN, "testderp", "--listen", "127.0.0.1:0", "--stun-port", "0", "--port-file",
            portFile.c_str(), "--key-file", keyFile.c_str(), nullptr);
      _exit(127);
    }
    std::string text;
    for (int i = 0; i < 300 && text.empty(); ++i) {
      std::ifstream in(portFile);
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
      if (text.empty()) std::this_thread::sleep_for(10ms);
    }
    auto j = nlohmann::json::parse(text, nullptr, false);
    std::string pub;
    if (j.is_object()) {
      TestClient c(j["derpPort"].get<uint16_t>());
      EXPECT_TRUE(c.login());
      EXPECT_GT(j["stunPort"].get<int>(), 0);
      pub = j["serverPublic"].get<std::string>();
      EXPECT_EQ(c.serverPub().toString(), pub);
    } else {
      ADD_FAILURE() << "no port file";
    }
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(portFile.c_str());
    return pub;
  };
  auto first = runOnce();
  auto second = runOnce();
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, second);  // the key file keeps the server's identity across restarts
  struct stat st {};
  ASSERT_EQ(stat(keyFile.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::filesystem::remove_all(dir);
}

TEST(HttpHead, ParsesRequestLineAndHeaders) {
  auto r = parseRequestHead("GET /derp?x=1 HTTP/1.1\r\nUpgrade:  DERP \r\nDerp-Fast-Start: 1\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path, "/derp");
  EXPECT_EQ(r->header("upgrade").value_or(""), "DERP");
  EXPECT_EQ(r->header("derp-fast-start").value_or(""), "1");
  EXPECT_FALSE(parseRequestHead("GET derp HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(parseRequestHead("GET /derp HTTP/2\r\n\r\n"));
  EXPECT_FALSE(parseRequestHead("GET /derp HTTP/1.1\r\nNoColon\r\n\r\n"));
  EXPECT_FALSE(parseRequestHead("GET /derp HTTP/1.1\r\nBad Name: x\r\n\r\n"));
}

}  // namespace
}  // namespace tnet::testderp
