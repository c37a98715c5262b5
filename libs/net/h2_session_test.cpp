// The nghttp2 wrappers paired in memory: no sockets, no Noise, so every HTTP/2 behaviour the
// ts2021 client and server rely on is checked deterministically.
#include <gtest/gtest.h>

#include "libs/net/h2_client.h"
#include "libs/net/h2_server.h"
#include "libs/net/limits.h"

namespace tnet::net {
namespace {

struct Pair {
  std::unique_ptr<H2ClientSession> client;
  std::shared_ptr<H2ServerSession> server;
  std::vector<std::pair<ServerHttpRequest, std::shared_ptr<H2ResponseWriter>>> requests;
  // Bytes the client let through to the server per pump (to simulate a stalled reader).
  bool clientReads = true;

  Pair() {
    auto c = H2ClientSession::create("control.example");
    EXPECT_TRUE(c);
    client = std::move(*c);
    auto s = H2ServerSession::create(
        [this](ServerHttpRequest r, std::shared_ptr<H2ResponseWriter> w) {
          requests.emplace_back(std::move(r), w);
        },
        [] {});
    EXPECT_TRUE(s);
    server = std::move(*s);
  }

  // Moves bytes both ways until quiet.
  void pump() {
    for (int i = 0; i < 1000; ++i) {
      Bytes c2s, s2c;
      client->takeOutput(c2s, 1 << 20);
      if (!c2s.empty()) {
        ASSERT_TRUE(server->receive(c2s));
      }
      server->runEvents([] { return true; });
      if (clientReads) server->takeOutput(s2c, 1 << 20);
      if (!s2c.empty()) {
        ASSERT_TRUE(client->receive(s2c));
      }
      client->runEvents([] { return true; });
      if (c2s.empty() && s2c.empty() && !server->hasEvents() && !client->hasEvents()) return;
    }
    FAIL() << "pump did not settle";
  }
};

struct Collected {
  int status = 0;
  HeaderList headers;
  std::string body;
  size_t chunks = 0;
  std::optional<Result<void>> end;
};

H2ClientSession::StreamEvents collect(Collected& c) {
  return {[&c](int s, const HeaderList& h) {
            c.status = s;
            c.headers = h;
          },
          [&c](std::span<const uint8_t> d) {
            c.body.append(reinterpret_cast<const char*>(d.data()), d.size());
            ++c.chunks;
          },
          [&c](Result<void> r) { c.end = std::move(r); }};
}

TEST(H2Session, UnaryRequestsConcurrently) {
  Pair p;
  std::vector<Collected> got(5);
  for (int i = 0; i < 5; ++i) {
    H2Request req{"POST",
                  "/machine/" + std::to_string(i),
                  {{"Content-Type", "application/json"}},
                  "{\"n\":" + std::to_string(i) + "}"};
    ASSERT_TRUE(p.client->submit(req, collect(got[i])));
  }
  p.pump();
  ASSERT_EQ(p.requests.size(), 5u);
  // Answer in reverse order: streams are independent.
  for (int i = 4; i >= 0; --i) {
    auto& [req, w] = p.requests[i];
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(headerValue(req.headers, "content-type"), "application/json");
    EXPECT_EQ(headerValue(req.headers, "host"), "control.example");
    w->respond(200, {{"X-Echo", req.target}}, req.body);
  }
  p.pump();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(got[i].end) << i;
    EXPECT_TRUE(*got[i].end) << got[i].end->error().message;
    EXPECT_EQ(got[i].status, 200);
    EXPECT_EQ(got[i].body, "{\"n\":" + std::to_string(i) + "}");
    EXPECT_EQ(headerValue(got[i].headers, "x-echo"), "/machine/" + std::to_string(i));
  }
  EXPECT_EQ(p.client->openStreams(), 0u);
  EXPECT_EQ(p.server->openStreams(), 0u);
}

TEST(H2Session, StreamingManyChunksThroughFlowControl) {
  Pair p;
  Collected got;
  ASSERT_TRUE(p.client->submit({"POST", "/machine/map", {}, "{}"}, collect(got)));
  p.pump();
  ASSERT_EQ(p.requests.size(), 1u);
  auto w = p.requests[0].second;
  w->start(200, {});
  std::string expect;
  // 40 MiB in total: far past every flow-control window, so WINDOW_UPDATEs must flow.
  for (int i = 0; i < 640; ++i) {
    std::string chunk(64 << 10, static_cast<char>('a' + i % 26));
    expect += chunk;
    w->write(std::move(chunk));
    if (i % 64 == 0) p.pump();
  }
  w->end();
  p.pump();
  ASSERT_TRUE(got.end);
  EXPECT_TRUE(*got.end);
  EXPECT_EQ(got.body.size(), expect.size());
  EXPECT_TRUE(got.body == expect);
  EXPECT_GT(got.chunks, 640u);
  EXPECT_TRUE(w->closed());
}

TEST(H2Session, StalledClientResetsWriterAtQueueCap) {
  Pair p;
  Collected got;
  ASSERT_TRUE(p.client->submit({"POST", "/machine/map", {}, "{}"}, collect(got)));
  p.pump();
  auto w = p.requests[0].second;
  bool closedSeen = false;
  w->onClose([&] { closedSeen = true; });
  w->start(200, {});
  p.pump();
  p.clientReads = false;  // the client stops reading: windows fill, the queue grows
  std::string chunk(1 << 20, 'x');
  for (size_t i = 0; i < MAX_H2_WRITER_QUEUE / chunk.size() + 2 && !w->closed(); ++i) {
    w->write(chunk);
    p.pump();
  }
  EXPECT_TRUE(w->closed());
  EXPECT_TRUE(closedSeen);
  p.clientReads = true;
  p.pump();
  ASSERT_TRUE(got.end);
  EXPECT_FALSE(*got.end);
}

TEST(H2Session, CancelSendsRstAndServerWriterCloses) {
  Pair p;
  Collected got;
  auto id = p.client->submit({"POST", "/machine/map", {}, "{}"}, collect(got));
  ASSERT_TRUE(id);
  p.pump();
  auto w = p.requests[0].second;
  w->start(200, {});
  w->write("first");
  p.pump();
  EXPECT_EQ(got.body, "first");
  p.client->cancel(*id);
  p.pump();
  EXPECT_TRUE(w->closed());
  EXPECT_FALSE(got.end);  // no event after cancel
  w->write("ignored");
  p.pump();
  EXPECT_EQ(got.body, "first");
}

TEST(H2Session, GoAwayIsReportedAndRefusesNewStreams) {
  Pair p;
  Collected got;
  ASSERT_TRUE(p.client->submit({"GET", "/a", {}, ""}, collect(got)));
  p.pump();
  p.server->goAway();
  p.pump();
  ASSERT_TRUE(p.client->goAwayReceived());
  EXPECT_EQ(p.client->goAwayReceived()->kind, ErrorKind::DISCONNECTED);
  EXPECT_FALSE(p.client->submit({"GET", "/b", {}, ""}, {}));
  // The stream started before GOAWAY still completes.
  p.requests[0].second->respond(204, {}, "");
  p.pump();
  ASSERT_TRUE(got.end);
  EXPECT_TRUE(*got.end);
  EXPECT_EQ(got.status, 204);
}

TEST(H2Session, OversizedRequestBodyIsRefused) {
  Pair p;
  Collected got;
  ASSERT_TRUE(
      p.client->submit({"POST", "/big", {}, std::string(MAX_H2_REQUEST_BODY + 1, 'b')}, collect(got)));
  p.pump();
  EXPECT_TRUE(p.requests.empty());
  ASSERT_TRUE(got.end);
  EXPECT_FALSE(*got.end);
}

TEST(H2Session, OversizedResponseHeadersFailTheStream) {
  Pair p;
  Collected got;
  ASSERT_TRUE(p.client->submit({"GET", "/h", {}, ""}, collect(got)));
  p.pump();
  HeaderList many;
  for (size_t i = 0; i < MAX_H2_HEADERS + 5; ++i) many.emplace_back("x-h" + std::to_string(i), "v");
  p.requests[0].second->respond(200, many, "body");
  p.pump();
  ASSERT_TRUE(got.end);
  EXPECT_FALSE(*got.end);
  EXPECT_EQ(got.status, 0);
}

TEST(H2Session, GarbageFromServerIsAConnectionError) {
  auto c = H2ClientSession::create("x");
  ASSERT_TRUE(c);
  Bytes junk(64, 0xee);
  // nghttp2 answers a connection error with GOAWAY: once that is out the session is dead.
  auto r = (*c)->receive(junk);
  Bytes out;
  (*c)->takeOutput(out, 1 << 20);
  EXPECT_FALSE(r && (*c)->alive());
  EXPECT_NE((*c)->connectionError(), "");
  auto s = H2ServerSession::create([](ServerHttpRequest, std::shared_ptr<H2ResponseWriter>) {}, [] {});
  ASSERT_TRUE(s);
  Bytes notPreface = {'G', 'E',  'T',  ' ',  '/',  ' ', 'H', 'T', 'T', 'P', '/', '1', '.',
                      '1', '\r', '\n', '\r', '\n', 0,   0,   0,   0,   0,   0,   0,   0};
  EXPECT_FALSE((*s)->receive(notPreface));
}

TEST(H2Session, FailAllEndsOpenStreamsOnce) {
  Pair p;
  Collected a, b;
  ASSERT_TRUE(p.client->submit({"GET", "/a", {}, ""}, collect(a)));
  ASSERT_TRUE(p.client->submit({"GET", "/b", {}, ""}, collect(b)));
  p.client->failAll(Error::disconnected("gone"));
  p.client->runEvents([] { return true; });
  ASSERT_TRUE(a.end && b.end);
  EXPECT_EQ(a.end->error().kind, ErrorKind::DISCONNECTED);
  EXPECT_FALSE(p.client->submit({"GET", "/c", {}, ""}, {}));
}

}  // namespace
}  // namespace tnet::net

namespace tnet::net {
namespace {

TEST(H2Session, GoAwayQueuedBeforeFailAllStillGoesOut) {
  Pair p;
  p.pump();
  p.client->goAway();
  p.client->failAll(Error::disconnected("closed"));
  Bytes out;
  EXPECT_GT(p.client->takeOutput(out, 1 << 20), 0u);
  ASSERT_TRUE(p.server->receive(out));
  Bytes back;
  p.server->takeOutput(back, 1 << 20);
  EXPECT_FALSE(p.server->alive());  // the server saw GOAWAY and has no streams: done
  Bytes more;
  EXPECT_EQ(p.client->takeOutput(more, 1 << 20), 0u);
}

}  // namespace
}  // namespace tnet::net

namespace tnet::net {
namespace {

TEST(H2Session, ConnectionWideQueueCapResetsTheStreamThatCrossesIt) {
  Pair p;
  std::vector<Collected> got(6);
  for (auto& g : got) ASSERT_TRUE(p.client->submit({"POST", "/machine/map", {}, "{}"}, collect(g)));
  p.pump();
  ASSERT_EQ(p.requests.size(), 6u);
  for (auto& [req, w] : p.requests) w->start(200, {});
  p.pump();
  p.clientReads = false;
  std::string chunk(1 << 20, 'q');
  for (auto& [req, w] : p.requests) {
    for (int i = 0; i < 12; ++i) w->write(chunk);  // 12 MiB: under the per-stream cap
  }
  for (size_t i = 0; i < 5; ++i) EXPECT_FALSE(p.requests[i].second->closed()) << i;
  EXPECT_TRUE(p.requests[5].second->closed());  // 60 + 12 MiB would pass 64 MiB
  EXPECT_LE(p.server->queuedBytes(), MAX_H2_CONNECTION_QUEUE);
  p.clientReads = true;
  for (auto& [req, w] : p.requests) w->end();
  p.pump();
  for (size_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(got[i].end);
    EXPECT_TRUE(*got[i].end);
    EXPECT_EQ(got[i].body.size(), 12u << 20);
  }
  ASSERT_TRUE(got[5].end);
  EXPECT_FALSE(*got[5].end);
  EXPECT_EQ(p.server->queuedBytes(), 0u);
}

}  // namespace
}  // namespace tnet::net

namespace tnet::net {
namespace {

TEST(H2Session, HeadResponsesCarryNoBody) {
  Pair p;
  Collected a, b;
  ASSERT_TRUE(p.client->submit({"HEAD", "/ping", {}, ""}, collect(a)));
  ASSERT_TRUE(p.client->submit({"HEAD", "/ping2", {}, ""}, collect(b)));
  p.pump();
  ASSERT_EQ(p.requests.size(), 2u);
  EXPECT_EQ(p.requests[0].first.method, "HEAD");
  p.requests[0].second->respond(200, {{"content-length", "4"}}, "body");
  p.requests[1].second->start(200, {});
  p.requests[1].second->write("ignored");
  p.pump();
  for (auto* c : {&a, &b}) {
    ASSERT_TRUE(c->end);
    EXPECT_TRUE(*c->end) << c->end->error().message;
    EXPECT_EQ(c->status, 200);
    EXPECT_EQ(c->body, "");
  }
}

}  // namespace
}  // namespace tnet::net
