// Broken and hostile peers on both sides of ts2021, played by raw blocking sockets on a thread:
// every case must end in a clean error or close, never a crash or a hang.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "libs/crypto/crypto.h"
#include "libs/ipn/capver.h"
#include "libs/net/h2_server.h"
#include "libs/net/net_test_util.h"
#include "libs/net/ts2021_client.h"
#include "libs/net/ts2021_server.h"
#include "libs/wire/controlbase.h"

namespace tnet::net {
namespace {

using namespace std::chrono_literals;
using testing::RawListener;
using testing::RawSocket;
using testing::runUntil;

constexpr uint16_t CAPVER = static_cast<uint16_t>(ipn::CAPABILITY_VERSION);

// Runs `fn` on a thread while the loop runs; returns its result.
template <typename T>
T withPeer(bus::Loop& loop, std::function<T()> fn, std::chrono::milliseconds timeout = 10000ms) {
  auto fut = std::async(std::launch::async, std::move(fn));
  runUntil(
      loop, [&] { return fut.wait_for(0ms) == std::future_status::ready; }, timeout);
  return fut.get();
}

struct ServerFixture {
  bus::Loop loop;
  key::MachinePrivate serverKey = key::MachinePrivate::generate();
  std::unique_ptr<Ts2021Server> server;
  int noiseClosed = 0;
  int noiseRequests = 0;

  explicit ServerFixture(std::chrono::milliseconds requestTimeout = 10000ms) {
    Ts2021ServerOptions o;
    o.serverKey = serverKey.clone();
    o.requestTimeout = requestTimeout;
    o.onNoiseRequest = [this](const NoisePeer&, ServerHttpRequest, std::shared_ptr<H2ResponseWriter> w) {
      ++noiseRequests;
      w->respond(200, {}, "ok");
    };
    o.onNoiseClosed = [this](const NoisePeer&) { ++noiseClosed; };
    auto s = Ts2021Server::create(loop, std::move(o));
    EXPECT_TRUE(s);
    server = std::move(*s);
  }

  // Sends `request` and returns everything the server says before closing.
  std::string exchange(std::string request) {
    uint16_t port = server->port();
    return withPeer<std::string>(loop, [port, request] {
      auto s = RawSocket::connectLoopback(port);
      s.writeAll(request);
      std::string out;
      s.readUntil(
          out, [](const std::string&) { return false; }, 3000ms);
      return out;
    });
  }
};

std::string upgradeRequest(std::string_view extraHeaders) {
  return "POST /ts2021 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n" + std::string(extraHeaders) + "\r\n";
}

TEST(Ts2021Server, UpgradeErrorsUseGoStatusAndText) {
  ServerFixture f;
  struct Case {
    std::string headers;
    std::string text;
  } cases[] = {
      {"", "missing next protocol\n"},
      {"Upgrade: h2c\r\n", "unknown next protocol\n"},
      {"Upgrade: Tailscale-Control-Protocol\r\nConnection: upgrade\r\n",
       "missing Tailscale handshake header\n"},
      {"Upgrade: tailscale-control-protocol\r\nX-Tailscale-Handshake: !!notbase64\r\n",
       "invalid tailscale handshake header\n"},
  };
  for (const auto& c : cases) {
    std::string out = f.exchange(upgradeRequest(c.headers));
    EXPECT_TRUE(out.starts_with("HTTP/1.1 400 Bad Request\r\n")) << out;
    EXPECT_TRUE(out.ends_with("\r\n\r\n" + c.text)) << out;
    EXPECT_NE(out.find("X-Content-Type-Options: nosniff"), std::string::npos);
  }
  EXPECT_EQ(f.server->noiseConnections(), 0u);
}

TEST(Ts2021Server, MalformedInitiationGets101ThenANoiseErrorMessage) {
  ServerFixture f;
  // Valid base64 of a too-short initiation: Go has already sent 101 when it finds out.
  std::string out =
      f.exchange(upgradeRequest("Upgrade: tailscale-control-protocol\r\nX-Tailscale-Handshake: " +
                                crypto::base64Encode(Bytes(10, 0)) + "\r\n"));
  ASSERT_TRUE(out.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << out;
  size_t end = out.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  std::string rest = out.substr(end + 4);
  ASSERT_GE(rest.size(), 3u);
  EXPECT_EQ(static_cast<uint8_t>(rest[0]), controlbase::MSG_TYPE_ERROR);
  EXPECT_EQ(f.server->noiseConnections(), 0u);
}

TEST(Ts2021Server, BadHttpAndOversizedHeaders) {
  ServerFixture f;
  std::string out = f.exchange("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400 ")) << out;
  out = f.exchange("GET /key HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431 ")) << out;
  out = f.exchange("POST /admin HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 413 ")) << out;
  out = f.exchange("GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 404 ")) << out;
}

TEST(Ts2021Server, StalledRequestIsClosed) {
  ServerFixture f(200ms);
  uint16_t port = f.server->port();
  bool closed = withPeer<bool>(f.loop, [port] {
    auto s = RawSocket::connectLoopback(port);
    s.writeAll(std::string_view("GET /key HTTP/1.1\r\nHost: x\r\n"));  // never finished
    return s.waitClosed(3000ms);
  });
  EXPECT_TRUE(closed);
}

// A raw client that completes the upgrade and the Noise handshake, then misbehaves.
struct NoiseRawClient {
  RawSocket sock;
  std::optional<controlbase::Session> session;
  std::string error;

  bool handshake(uint16_t port, const key::MachinePublic& serverPub) {
    sock = RawSocket::connectLoopback(port);
    auto clientKey = key::MachinePrivate::generate();
    auto hs = controlbase::ClientHandshake::start(clientKey, serverPub, CAPVER);
    if (!hs) return false;
    sock.writeAll(upgradeRequest(
        "Upgrade: tailscale-control-protocol\r\nConnection: upgrade\r\nX-Tailscale-Handshake: " +
        hs->initiationHeaderValue() + "\r\n"));
    std::string in;
    if (!sock.readUntil(in, [](const std::string& s) {
          size_t e = s.find("\r\n\r\n");
          return e != std::string::npos && s.size() >= e + 4 + controlbase::RESPONSE_LEN;
        })) {
      error = "no 101 + response";
      return false;
    }
    size_t e = in.find("\r\n\r\n") + 4;
    auto r = hs->receive(testing::stringToBytes(in.substr(e)));
    if (!r || !r->session) {
      error = "handshake";
      return false;
    }
    session.emplace(std::move(*r->session));
    return true;
  }
};

TEST(Ts2021Server, BadNoiseTagClosesTheConnection) {
  ServerFixture f;
  uint16_t port = f.server->port();
  auto pub = f.serverKey.publicKey();
  bool closed = withPeer<bool>(f.loop, [port, pub] {
    NoiseRawClient c;
    if (!c.handshake(port, pub)) return false;
    Bytes rec;
    std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (!c.session->seal(testing::stringToBytes(preface), rec)) return false;
    rec.back() ^= 0x01;  // flip a tag bit
    c.sock.writeAll(rec);
    return c.sock.waitClosed();
  });
  EXPECT_TRUE(closed);
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.noiseClosed == 1; }));
  EXPECT_EQ(f.server->noiseConnections(), 0u);
  EXPECT_EQ(f.noiseRequests, 0);
}

TEST(Ts2021Server, TruncatedFrameThenEofClosesCleanly) {
  ServerFixture f;
  uint16_t port = f.server->port();
  auto pub = f.serverKey.publicKey();
  bool ok = withPeer<bool>(f.loop, [port, pub] {
    NoiseRawClient c;
    if (!c.handshake(port, pub)) return false;
    Bytes rec;
    if (!c.session->seal(Bytes(100, 'x'), rec)) return false;
    c.sock.writeAll(ByteSpan(rec.data(), 20));  // header + a few bytes of ciphertext
    ::shutdown(c.sock.fd(), SHUT_WR);
    return c.sock.waitClosed();
  });
  EXPECT_TRUE(ok);
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.noiseClosed == 1; }));
}

TEST(Ts2021Server, OversizedFrameAndBadTypeClose) {
  for (Bytes bad : {Bytes{0x04, 0xff, 0xff}, Bytes{0x09, 0x00, 0x01, 0x00}}) {
    ServerFixture f;
    uint16_t port = f.server->port();
    auto pub = f.serverKey.publicKey();
    bool closed = withPeer<bool>(f.loop, [port, pub, bad] {
      NoiseRawClient c;
      if (!c.handshake(port, pub)) return false;
      c.sock.writeAll(bad);
      return c.sock.waitClosed();
    });
    EXPECT_TRUE(closed);
    ASSERT_TRUE(runUntil(f.loop, [&] { return f.noiseClosed == 1; }));
  }
}

TEST(Ts2021Server, NotHttp2InsideNoiseCloses) {
  ServerFixture f;
  uint16_t port = f.server->port();
  auto pub = f.serverKey.publicKey();
  bool closed = withPeer<bool>(f.loop, [port, pub] {
    NoiseRawClient c;
    if (!c.handshake(port, pub)) return false;
    Bytes rec;
    if (!c.session->seal(testing::stringToBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), rec)) return false;
    c.sock.writeAll(rec);
    return c.sock.waitClosed();
  });
  EXPECT_TRUE(closed);
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.noiseClosed == 1; }));
}

// ---- the client against fake servers ----

struct ClientFixture {
  bus::Loop loop;
  RawListener listener;
  key::MachinePrivate serverKey = key::MachinePrivate::generate();
  std::optional<Error> closed;

  std::unique_ptr<Ts2021Client> makeClient(std::chrono::milliseconds dialTimeout = 3000ms) {
    Ts2021ClientOptions o;
    o.controlUrl = "http://127.0.0.1:" + std::to_string(listener.port());
    o.machineKey = key::MachinePrivate::generate();
    o.controlPublic = serverKey.publicKey();
    o.capver = CAPVER;
    o.dialTimeout = dialTimeout;
    Ts2021Client::Callbacks cb;
    cb.onClosed = [this](Error e) { closed = std::move(e); };
    return Ts2021Client::create(loop, std::move(o), std::move(cb));
  }

  // Connects a client while `serve` plays the server on the accepted socket.
  Result<void> connectAgainst(Ts2021Client& c, std::function<void(RawSocket&, std::string request)> serve) {
    std::optional<Result<void>> r;
    auto fut = std::async(std::launch::async, [this, serve] {
      auto s = listener.accept();
      std::string req;
      s.readUntil(req, [](const std::string& x) { return x.find("\r\n\r\n") != std::string::npos; });
      serve(s, req);
    });
    c.connect([&](Result<void> x) { r = std::move(x); });
    runUntil(
        loop, [&] { return r.has_value() && fut.wait_for(0ms) == std::future_status::ready; }, 8000ms);
    fut.get();
    if (!r) return Error::failed("test: no connect result");
    return *r;
  }

  // The server half of a good handshake; returns the session (and writes its HTTP/2 SETTINGS).
  static std::optional<controlbase::Session> acceptNoise(RawSocket& s, const std::string& req,
                                                         const key::MachinePrivate& serverKey) {
    size_t at = req.find("X-Tailscale-Handshake: ");
    if (at == std::string::npos) return std::nullopt;
    size_t end = req.find("\r\n", at);
    auto init = crypto::base64Decode(req.substr(at + 23, end - at - 23));
    if (!init) return std::nullopt;
    auto out = controlbase::ServerHandshake::accept(serverKey, *init);
    if (!out.accepted) return std::nullopt;
    std::string head =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\nConnection: "
        "upgrade\r\n\r\n";
    Bytes wire(head.begin(), head.end());
    wire.insert(wire.end(), out.accepted->response.begin(), out.accepted->response.end());
    auto h2 = H2ServerSession::create([](ServerHttpRequest, std::shared_ptr<H2ResponseWriter>) {}, [] {});
    Bytes settings;
    (*h2)->takeOutput(settings, 1 << 16);
    if (!out.accepted->session.seal(settings, wire)) return std::nullopt;
    s.writeAll(wire);
    return std::move(out.accepted->session);
  }
};

TEST(Ts2021Client, NonSwitchingResponseFails) {
  ClientFixture f;
  auto c = f.makeClient();
  auto r = f.connectAgainst(*c, [](RawSocket& s, std::string) {
    s.writeAll(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"));
  });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unexpected HTTP response: 200"), std::string::npos) << r.error().message;
}

TEST(Ts2021Client, UpgradeRequestMatchesGo) {
  ClientFixture f;
  auto c = f.makeClient();
  std::string seen;
  auto r = f.connectAgainst(*c, [&seen](RawSocket& s, std::string req) {
    seen = req;
    s.writeAll(std::string_view("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"));
  });
  ASSERT_FALSE(r);
  EXPECT_TRUE(seen.starts_with("POST /ts2021 HTTP/1.1\r\n")) << seen;
  EXPECT_NE(seen.find("\r\nUpgrade: tailscale-control-protocol\r\n"), std::string::npos);
  EXPECT_NE(seen.find("\r\nConnection: upgrade\r\n"), std::string::npos);
  size_t at = seen.find("\r\nX-Tailscale-Handshake: ");
  ASSERT_NE(at, std::string::npos);
  std::string b64 = seen.substr(at + 25, seen.find("\r\n", at + 2) - at - 25);
  EXPECT_EQ(b64.size(), 136u);  // 101 bytes, std base64 with padding
  auto init = crypto::base64Decode(b64);
  ASSERT_TRUE(init);
  EXPECT_EQ((*init)[0], CAPVER >> 8);
  EXPECT_EQ((*init)[1], CAPVER & 0xff);
  EXPECT_EQ((*init)[2], controlbase::MSG_TYPE_INITIATION);
}

TEST(Ts2021Client, WrongUpgradeHeaderFails) {
  ClientFixture f;
  auto c = f.makeClient();
  auto r = f.connectAgainst(*c, [](RawSocket& s, std::string) {
    s.writeAll(std::string_view(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"));
  });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unexpected protocol"), std::string::npos) << r.error().message;
}

TEST(Ts2021Client, GarbageAndErrorMessagesInsteadOfNoiseResponse) {
  {
    ClientFixture f;
    auto c = f.makeClient();
    auto r = f.connectAgainst(*c, [](RawSocket& s, std::string) {
      std::string w = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\n\r\n";
      w += std::string(60, '\x02');
      s.writeAll(w);
    });
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("Noise handshake"), std::string::npos) << r.error().message;
  }
  {
    ClientFixture f;
    auto c = f.makeClient();
    auto r = f.connectAgainst(*c, [](RawSocket& s, std::string) {
      std::string w = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\n\r\n";
      Bytes msg = controlbase::encodeErrorMessage("go away\x1b[31m");
      w.append(msg.begin(), msg.end());
      s.writeAll(w);
    });
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("go away"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\x1b'), std::string::npos);  // never raw control bytes
  }
}

TEST(Ts2021Client, StalledServerHitsDialTimeout) {
  ClientFixture f;
  auto c = f.makeClient(300ms);
  auto start = std::chrono::steady_clock::now();
  auto r = f.connectAgainst(*c, [](RawSocket& s, std::string) {
    s.writeAll(
        std::string_view("HTTP/1.1 101 Switching Protocols\r\nUpgrade: tailscale-control-protocol\r\n\r\n"));
    s.waitClosed(3000ms);  // never sends the Noise response
  });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, testing::scaled(3000ms));
}

TEST(Ts2021Client, BadTagAfterConnectReportsOnClosed) {
  ClientFixture f;
  auto c = f.makeClient();
  std::promise<void> release;
  auto released = release.get_future().share();
  key::MachinePrivate serverKey = f.serverKey.clone();
  std::thread server;
  std::optional<Result<void>> r;
  auto fut = std::async(std::launch::async, [&f, &serverKey, released] {
    auto s = f.listener.accept();
    std::string req;
    s.readUntil(req, [](const std::string& x) { return x.find("\r\n\r\n") != std::string::npos; });
    auto session = ClientFixture::acceptNoise(s, req, serverKey);
    if (!session) return;
    released.wait();
    Bytes rec;
    if (!session->seal(Bytes(30, 0), rec)) return;
    rec[5] ^= 0x80;
    s.writeAll(rec);
    s.waitClosed(3000ms);
  });
  c->connect([&](Result<void> x) { r = std::move(x); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return r.has_value(); }));
  ASSERT_TRUE(*r) << r->error().message;
  release.set_value();
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.closed.has_value(); }));
  EXPECT_NE(f.closed->message.find("Noise"), std::string::npos) << f.closed->message;
  EXPECT_FALSE(c->connected());
  runUntil(f.loop, [&] { return fut.wait_for(0ms) == std::future_status::ready; });
}

TEST(Ts2021Client, TruncatedRecordThenEofReportsOnClosed) {
  ClientFixture f;
  auto c = f.makeClient();
  key::MachinePrivate serverKey = f.serverKey.clone();
  std::promise<void> release;
  auto released = release.get_future().share();
  std::optional<Result<void>> r;
  auto fut = std::async(std::launch::async, [&f, &serverKey, released] {
    auto s = f.listener.accept();
    std::string req;
    s.readUntil(req, [](const std::string& x) { return x.find("\r\n\r\n") != std::string::npos; });
    auto session = ClientFixture::acceptNoise(s, req, serverKey);
    if (!session) return;
    released.wait();
    Bytes rec;
    if (!session->seal(Bytes(300, 0), rec)) return;
    s.writeAll(ByteSpan(rec.data(), 50));
    ::shutdown(s.fd(), SHUT_WR);  // EOF mid-record (reading on, so the client sees no reset)
    s.waitClosed(3000ms);
  });
  c->connect([&](Result<void> x) { r = std::move(x); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return r.has_value(); }));
  ASSERT_TRUE(*r) << r->error().message;
  release.set_value();
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.closed.has_value(); }));
  EXPECT_EQ(f.closed->kind, ErrorKind::DISCONNECTED);
  EXPECT_NE(f.closed->message.find("mid-record"), std::string::npos) << f.closed->message;
  runUntil(f.loop, [&] { return fut.wait_for(0ms) == std::future_status::ready; });
}

}  // namespace
}  // namespace tnet::net
