// ts2021 client ⇄ server on loopback: /key, the upgrade, Noise, HTTP/2 requests and streams,
// early payload, GOAWAY and closes, and the errors a hostile or broken peer causes.
#include <gtest/gtest.h>

#include <thread>

#include "libs/crypto/crypto.h"
#include "libs/ipn/capver.h"
#include "libs/net/http_client.h"
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

// A server whose Noise handler echoes unary requests and streams on /stream.
struct Fixture {
  bus::Loop loop;
  key::MachinePrivate serverKey = key::MachinePrivate::generate();
  key::MachinePrivate clientKey = key::MachinePrivate::generate();
  std::unique_ptr<Ts2021Server> server;
  std::vector<NoisePeer> peers;
  std::vector<NoisePeer> closedPeers;
  std::vector<std::shared_ptr<H2ResponseWriter>> streams;
  std::string earlyJson;

  explicit Fixture(bool start = true) {
    if (start) startServer();
  }

  void startServer() {
    Ts2021ServerOptions o;
    o.serverKey = serverKey.clone();
    o.earlyPayload = [this](const NoisePeer&) { return earlyJson; };
    o.onNoiseRequest = [this](const NoisePeer& peer, ServerHttpRequest req,
                              std::shared_ptr<H2ResponseWriter> w) {
      if (peers.empty() || peers.back().connId != peer.connId) peers.push_back(peer);
      if (req.target == "/stream") {
        w->start(200, {{"content-type", "application/octet-stream"}});
        streams.push_back(w);
        return;
      }
      if (req.target == "/big") return w->respond(200, {}, std::string(2 << 20, 'B'));
      if (req.target == "/never") return streams.push_back(w);  // no answer
      w->respond(200, {{"x-method", req.method}, {"x-target", req.target}}, req.body);
    };
    o.onNoiseClosed = [this](const NoisePeer& p) { closedPeers.push_back(p); };
    o.onHttpRequest = [](ServerHttpRequest req, auto reply) {
      if (req.target == "/admin/ping") return reply(200, "text/plain", "pong");
      reply(404, "text/plain", "no");
    };
    auto s = Ts2021Server::create(loop, std::move(o));
    ASSERT_TRUE(s) << s.error().message;
    server = std::move(*s);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }

  Ts2021ClientOptions clientOptions() {
    Ts2021ClientOptions o;
    o.controlUrl = url();
    o.machineKey = clientKey.clone();
    o.controlPublic = serverKey.publicKey();
    o.capver = CAPVER;
    o.dialTimeout = 5000ms;
    return o;
  }

  std::unique_ptr<Ts2021Client> connect(Ts2021Client::Callbacks cb = {},
                                        std::optional<Ts2021ClientOptions> opts = {}) {
    auto c = Ts2021Client::create(loop, opts ? std::move(*opts) : clientOptions(), std::move(cb));
    std::optional<Result<void>> r;
    c->connect([&](Result<void> x) { r = std::move(x); });
    EXPECT_TRUE(runUntil(loop, [&] { return r.has_value(); }));
    EXPECT_TRUE(r && *r) << (r && !*r ? r->error().message : "no result");
    return c;
  }

  Result<H2Response> call(Ts2021Client& c, H2Request req, std::chrono::milliseconds timeout = 3000ms) {
    std::optional<Result<H2Response>> r;
    c.request(std::move(req), timeout, [&](Result<H2Response> x) { r = std::move(x); });
    if (!runUntil(
            loop, [&] { return r.has_value(); }, 10000ms))
      return Error::failed("test: no answer");
    return std::move(*r);
  }
};

TEST(Ts2021, FetchServerKeyFromServer) {
  Fixture f;
  std::optional<Result<controlbase::ServerKeys>> keys;
  fetchServerKey(f.loop, f.url() + "/", CAPVER, {}, [&](auto r) { keys = std::move(r); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return keys.has_value(); }));
  ASSERT_TRUE(*keys) << keys->error().message;
  EXPECT_EQ((*keys)->publicKey, f.serverKey.publicKey());
  EXPECT_TRUE((*keys)->legacyPublicKey.isZero());

  // The raw body is Go's JSON shape, with json.Encoder's newline.
  std::optional<Result<HttpResponse>> raw;
  httpGet(f.loop, f.url() + "/key?v=116", {}, [&](auto r) { raw = std::move(r); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return raw.has_value(); }));
  ASSERT_TRUE(*raw);
  EXPECT_EQ((*raw)->status, 200);
  EXPECT_EQ(headerValue((*raw)->headers, "content-type"), "application/json");
  EXPECT_EQ((*raw)->body, "{\"legacyPublicKey\":\"mkey:" + std::string(64, '0') + "\",\"publicKey\":\"" +
                              f.serverKey.publicKey().toString() + "\"}\n");

  // Admin API and 404 through onHttpRequest.
  raw.reset();
  httpGet(f.loop, f.url() + "/admin/ping", {}, [&](auto r) { raw = std::move(r); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return raw.has_value(); }));
  ASSERT_TRUE(*raw);
  EXPECT_EQ((*raw)->status, 200);
  EXPECT_EQ((*raw)->body, "pong");
}

TEST(Ts2021, ConnectAndConcurrentUnaryRequests) {
  Fixture f;
  auto c = f.connect();
  EXPECT_TRUE(c->connected());
  EXPECT_FALSE(c->info().viaTls);
  EXPECT_EQ(c->info().port, f.server->port());

  constexpr int N = 24;
  std::vector<std::optional<Result<H2Response>>> got(N);
  for (int i = 0; i < N; ++i) {
    // Bodies past one Noise frame (4077 bytes) and past one HTTP/2 frame (16 KiB).
    std::string body(static_cast<size_t>(i) * 3000 + 1, static_cast<char>('a' + i));
    c->request({"POST", "/machine/" + std::to_string(i), {{"Content-Type", "application/json"}}, body},
               5000ms, [&got, i](Result<H2Response> r) { got[i] = std::move(r); });
  }
  ASSERT_TRUE(runUntil(f.loop, [&] {
    for (auto& g : got) {
      if (!g) return false;
    }
    return true;
  }));
  for (int i = 0; i < N; ++i) {
    ASSERT_TRUE(*got[i]) << got[i]->error().message;
    EXPECT_EQ((*got[i])->status, 200);
    EXPECT_EQ(headerValue((*got[i])->headers, "x-target"), "/machine/" + std::to_string(i));
    EXPECT_EQ((*got[i])->body, std::string(static_cast<size_t>(i) * 3000 + 1, static_cast<char>('a' + i)));
  }
  ASSERT_EQ(f.peers.size(), 1u);
  EXPECT_EQ(f.peers[0].machinePublic, f.clientKey.publicKey());
  EXPECT_EQ(f.peers[0].capver, CAPVER);
  EXPECT_EQ(f.server->noiseConnections(), 1u);
}

TEST(Ts2021, StreamingResponseOfManyLargeChunks) {
  Fixture f;
  auto c = f.connect();
  int status = 0;
  std::string body;
  size_t chunks = 0;
  std::optional<Result<void>> end;
  auto h = c->stream(
      {"POST", "/stream", {}, "{}"}, [&](int s, const HeaderList&) { status = s; },
      [&](std::span<const uint8_t> d) {
        body.append(reinterpret_cast<const char*>(d.data()), d.size());
        ++chunks;
      },
      [&](Result<void> r) { end = std::move(r); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.streams.size() == 1; }));
  auto w = f.streams[0];
  std::string expect;
  for (int i = 0; i < 300; ++i) {
    // Map-response-like frames: a little-endian length and a payload larger than a Noise frame.
    std::string frame(9000 + static_cast<size_t>(i), static_cast<char>('A' + i % 26));
    expect += frame;
    w->write(frame);
    if (i % 50 == 0) f.loop.runFor(1ms);
  }
  ASSERT_TRUE(runUntil(
      f.loop, [&] { return body.size() == expect.size(); }, 10000ms));
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(body == expect);
  EXPECT_GT(chunks, 300u);
  EXPECT_FALSE(end);
  w->end();
  ASSERT_TRUE(runUntil(f.loop, [&] { return end.has_value(); }));
  EXPECT_TRUE(*end);
}

TEST(Ts2021, CancellingAStreamClosesTheServerWriter) {
  Fixture f;
  auto c = f.connect();
  std::string body;
  bool ended = false;
  auto h = c->stream(
      {"POST", "/stream", {}, "{}"}, nullptr,
      [&](std::span<const uint8_t> d) { body.append(reinterpret_cast<const char*>(d.data()), d.size()); },
      [&](Result<void>) { ended = true; });
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.streams.size() == 1; }));
  f.streams[0]->write("hello");
  ASSERT_TRUE(runUntil(f.loop, [&] { return body == "hello"; }));
  h.reset();
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.streams[0]->closed(); }));
  EXPECT_FALSE(ended);
  // The connection is still good.
  auto r = f.call(*c, {"GET", "/after", {}, ""});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST(Ts2021, EarlyPayloadArrivesBeforeConnectCompletes) {
  Fixture f;
  auto chal = key::MachinePrivate::generate().publicKey();
  f.earlyJson = "{\"nodeKeyChallenge\":\"chalpub:" + chal.untypedHex() + "\"}";
  std::optional<controlbase::EarlyNoise> early;
  std::string json;
  bool earlyBeforeConnect = false;
  Ts2021Client::Callbacks cb;
  cb.onEarlyPayload = [&](const controlbase::EarlyNoise& e, std::string j) {
    early = e;
    json = std::move(j);
  };
  auto c = Ts2021Client::create(f.loop, f.clientOptions(), std::move(cb));
  std::optional<Result<void>> r;
  c->connect([&](Result<void> x) {
    earlyBeforeConnect = early.has_value();
    r = std::move(x);
  });
  ASSERT_TRUE(runUntil(f.loop, [&] { return r.has_value(); }));
  ASSERT_TRUE(*r) << r->error().message;
  EXPECT_TRUE(earlyBeforeConnect);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->nodeKeyChallenge.raw(), chal.raw());
  EXPECT_EQ(json, f.earlyJson);
  auto resp = f.call(*c, {"POST", "/x", {}, "y"});
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->body, "y");
}

TEST(Ts2021, ServerGoAwayReportsOnClosed) {
  Fixture f;
  std::optional<Error> closed;
  Ts2021Client::Callbacks cb;
  cb.onClosed = [&](Error e) { closed = std::move(e); };
  auto c = f.connect(std::move(cb));
  ASSERT_TRUE(f.call(*c, {"GET", "/1", {}, ""}));
  ASSERT_EQ(f.peers.size(), 1u);
  ASSERT_TRUE(f.server->closeNoise(f.peers[0].connId, true));
  ASSERT_TRUE(runUntil(f.loop, [&] { return closed.has_value(); }));
  EXPECT_EQ(closed->kind, ErrorKind::DISCONNECTED);
  EXPECT_NE(closed->message.find("GOAWAY"), std::string::npos) << closed->message;
  EXPECT_FALSE(c->connected());
  auto r = f.call(*c, {"GET", "/2", {}, ""});
  EXPECT_FALSE(r);
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.closedPeers.size() == 1; }));
  EXPECT_EQ(f.server->noiseConnections(), 0u);
}

TEST(Ts2021, ServerAbruptCloseFailsStreamsAndReportsOnce) {
  Fixture f;
  int closedCount = 0;
  Ts2021Client::Callbacks cb;
  cb.onClosed = [&](Error) { ++closedCount; };
  auto c = f.connect(std::move(cb));
  std::optional<Result<void>> end;
  auto h =
      c->stream({"POST", "/stream", {}, ""}, nullptr, nullptr, [&](Result<void> r) { end = std::move(r); });
  std::optional<Result<H2Response>> pending;
  c->request({"GET", "/never", {}, ""}, 10000ms, [&](Result<H2Response> r) { pending = std::move(r); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.streams.size() == 2; }));
  ASSERT_TRUE(f.server->closeNoise(f.peers[0].connId, false));
  ASSERT_TRUE(runUntil(f.loop, [&] { return end.has_value() && pending.has_value(); }));
  EXPECT_FALSE(*end);
  EXPECT_FALSE(*pending);
  f.loop.runFor(20ms);
  EXPECT_EQ(closedCount, 1);
  EXPECT_TRUE(f.streams[0]->closed());
  EXPECT_TRUE(f.streams[1]->closed());
}

TEST(Ts2021, ClientCloseEndsServerConnection) {
  Fixture f;
  auto c = f.connect();
  std::optional<Result<void>> end;
  auto h =
      c->stream({"POST", "/stream", {}, ""}, nullptr, nullptr, [&](Result<void> r) { end = std::move(r); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.streams.size() == 1; }));
  c->close();
  ASSERT_TRUE(runUntil(f.loop, [&] { return end.has_value(); }));
  EXPECT_EQ(end->error().kind, ErrorKind::DISCONNECTED);
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.closedPeers.size() == 1; }));
  EXPECT_TRUE(f.streams[0]->closed());
}

TEST(Ts2021, DestroyingTheClientRunsNoCallbacks) {
  Fixture f;
  bool called = false;
  Ts2021Client::Callbacks cb;
  cb.onClosed = [&](Error) { called = true; };
  auto c = f.connect(std::move(cb));
  c->request({"GET", "/never", {}, ""}, 10000ms, [&](Result<H2Response>) { called = true; });
  auto h = c->stream({"POST", "/stream", {}, ""}, nullptr, nullptr, [&](Result<void>) { called = true; });
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.streams.size() == 2; }));
  c.reset();
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.closedPeers.size() == 1; }));
  h.reset();  // the handle outlives the client
  f.loop.runFor(20ms);
  EXPECT_FALSE(called);
}

TEST(Ts2021, RequestTimeoutResetsTheStream) {
  Fixture f;
  auto c = f.connect();
  auto r = f.call(*c, {"GET", "/never", {}, ""}, 200ms);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos);
  ASSERT_TRUE(runUntil(f.loop, [&] { return !f.streams.empty() && f.streams[0]->closed(); }));
  EXPECT_TRUE(f.call(*c, {"GET", "/ok", {}, ""}));
}

TEST(Ts2021, UnaryBodyOverTheCapIsRefused) {
  Fixture f;
  auto c = f.connect();
  auto r = f.call(*c, {"GET", "/big", {}, ""});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::OVERLOADED);
  EXPECT_TRUE(f.call(*c, {"GET", "/ok", {}, ""}));
}

TEST(Ts2021, WrongControlKeyFailsTheHandshakeCleanly) {
  Fixture f;
  auto o = f.clientOptions();
  o.controlPublic = key::MachinePrivate::generate().publicKey();
  auto c = Ts2021Client::create(f.loop, std::move(o), {});
  std::optional<Result<void>> r;
  c->connect([&](Result<void> x) { r = std::move(x); });
  ASSERT_TRUE(runUntil(f.loop, [&] { return r.has_value(); }));
  ASSERT_FALSE(*r);
  EXPECT_NE(r->error().message.find("Noise"), std::string::npos) << r->error().message;
  EXPECT_EQ(f.server->noiseConnections(), 0u);
}

TEST(Ts2021, DialFailsWhenNothingListens) {
  bus::Loop loop;
  Ts2021ClientOptions o;
  o.controlUrl = "http://127.0.0.1:" + std::to_string(testing::closedPort());
  o.machineKey = key::MachinePrivate::generate();
  o.controlPublic = key::MachinePrivate::generate().publicKey();
  o.capver = CAPVER;
  auto c = Ts2021Client::create(loop, std::move(o), {});
  std::optional<Result<void>> r;
  c->connect([&](Result<void> x) { r = std::move(x); });
  ASSERT_TRUE(runUntil(loop, [&] { return r.has_value(); }));
  ASSERT_FALSE(*r);
  EXPECT_NE(r->error().message.find("all connection attempts failed"), std::string::npos)
      << r->error().message;
  EXPECT_FALSE(c->connected());
}

}  // namespace
}  // namespace tnet::net

namespace tnet::net {
namespace {

TEST(Ts2021, Ipv6LoopbackListenAndDial) {
  bus::Loop loop;
  auto serverKey = key::MachinePrivate::generate();
  Ts2021ServerOptions o;
  o.listen = "[::1]:0";
  o.serverKey = serverKey.clone();
  o.onNoiseRequest = [](const NoisePeer&, ServerHttpRequest req, std::shared_ptr<H2ResponseWriter> w) {
    w->respond(200, {}, std::string(headerValue(req.headers, "host").value_or("")));
  };
  auto s = Ts2021Server::create(loop, std::move(o));
  if (!s) GTEST_SKIP() << "no IPv6 loopback here: " << s.error().message;
  std::string url = "http://[::1]:" + std::to_string((*s)->port());
  std::optional<Result<controlbase::ServerKeys>> keys;
  fetchServerKey(loop, url, CAPVER, {}, [&](auto r) { keys = std::move(r); });
  ASSERT_TRUE(runUntil(loop, [&] { return keys.has_value(); }));
  ASSERT_TRUE(*keys) << keys->error().message;
  Ts2021ClientOptions co;
  co.controlUrl = url;
  co.machineKey = key::MachinePrivate::generate();
  co.controlPublic = (*keys)->publicKey;
  co.capver = CAPVER;
  auto c = Ts2021Client::create(loop, std::move(co), {});
  std::optional<Result<void>> r;
  c->connect([&](Result<void> x) { r = std::move(x); });
  ASSERT_TRUE(runUntil(loop, [&] { return r.has_value(); }));
  ASSERT_TRUE(*r) << r->error().message;
  std::optional<Result<H2Response>> resp;
  c->request({"GET", "/", {}, ""}, 3000ms, [&](Result<H2Response> x) { resp = std::move(x); });
  ASSERT_TRUE(runUntil(loop, [&] { return resp.has_value(); }));
  ASSERT_TRUE(*resp);
  EXPECT_EQ((*resp)->body, "[::1]");  // :authority is the control host, bracketed
}

TEST(Ts2021Server, RejectsBadOptions) {
  bus::Loop loop;
  Ts2021ServerOptions o;
  EXPECT_FALSE(Ts2021Server::create(loop, std::move(o)));  // no key
  for (const char* listen : {"127.0.0.1", "127.0.0.1:x", "nothost:0", "127.0.0.1:70000"}) {
    Ts2021ServerOptions p;
    p.serverKey = key::MachinePrivate::generate();
    p.listen = listen;
    EXPECT_FALSE(Ts2021Server::create(loop, std::move(p))) << listen;
  }
}

TEST(Ts2021, ClientRejectsBadOptions) {
  bus::Loop loop;
  auto check = [&](Ts2021ClientOptions o) {
    auto c = Ts2021Client::create(loop, std::move(o), {});
    std::optional<Result<void>> r;
    c->connect([&](Result<void> x) { r = std::move(x); });
    EXPECT_FALSE(r.has_value());  // never inside connect()
    EXPECT_TRUE(runUntil(loop, [&] { return r.has_value(); }));
    return r && !*r ? r->error().kind : ErrorKind::FAILED;
  };
  Ts2021ClientOptions o;
  o.controlUrl = "ftp://x";
  o.machineKey = key::MachinePrivate::generate();
  o.controlPublic = o.machineKey.publicKey();
  o.capver = CAPVER;
  EXPECT_EQ(check(std::move(o)), ErrorKind::INVALID);
  Ts2021ClientOptions z;
  z.controlUrl = "http://127.0.0.1:1";
  z.capver = CAPVER;
  EXPECT_EQ(check(std::move(z)), ErrorKind::INVALID);  // zero keys
}

}  // namespace
}  // namespace tnet::net

namespace tnet::net {
namespace {

TEST(Ts2021, FiftyClientsAtOnce) {
  Fixture f;
  constexpr int N = 50;
  std::vector<std::unique_ptr<Ts2021Client>> clients;
  std::vector<std::optional<Result<void>>> connected(N);
  std::vector<std::optional<Result<H2Response>>> answers(N);
  for (int i = 0; i < N; ++i) {
    auto o = f.clientOptions();
    o.machineKey = key::MachinePrivate::generate();
    clients.push_back(Ts2021Client::create(f.loop, std::move(o), {}));
    clients.back()->connect([&, i](Result<void> r) {
      connected[i] = r;
      if (!r) return;
      clients[i]->request({"POST", "/c/" + std::to_string(i), {}, std::to_string(i)}, 5000ms,
                          [&, i](Result<H2Response> x) { answers[i] = std::move(x); });
    });
  }
  ASSERT_TRUE(runUntil(
      f.loop,
      [&] {
        for (auto& a : answers) {
          if (!a) return false;
        }
        return true;
      },
      15000ms));
  for (int i = 0; i < N; ++i) {
    ASSERT_TRUE(*connected[i]) << connected[i]->error().message;
    ASSERT_TRUE(*answers[i]) << answers[i]->error().message;
    EXPECT_EQ((*answers[i])->body, std::to_string(i));
  }
  EXPECT_EQ(f.server->noiseConnections(), static_cast<size_t>(N));
  clients.clear();
  ASSERT_TRUE(runUntil(f.loop, [&] { return f.server->noiseConnections() == 0; }));
  EXPECT_EQ(f.closedPeers.size(), static_cast<size_t>(N));
}

}  // namespace
}  // namespace tnet::net
