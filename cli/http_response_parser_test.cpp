#include "cli/http_response_parser.h"

#include <gtest/gtest.h>

namespace tnet::cli {
namespace {

// Feeds `wire` one byte at a time, as a slow socket would.
std::string feedBytewise(HttpResponseParser& p, std::string_view wire) {
  std::string body;
  for (char c : wire) {
    auto r = p.feed(std::string_view(&c, 1), body);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (!r) break;
  }
  return body;
}

TEST(HttpResponseParser, ContentLength) {
  HttpResponseParser p;
  std::string body = feedBytewise(p,
                                  "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
                                  "Tailscale-Version: 0.1.0\r\n\r\nhello");
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.reason(), "OK");
  EXPECT_EQ(body, "hello");
  EXPECT_EQ(p.header("tailscale-version"), "0.1.0");
  EXPECT_EQ(p.header("X-Missing"), std::nullopt);
}

TEST(HttpResponseParser, ChunkedStreamDecodesIncrementally) {
  HttpResponseParser p;
  std::string body;
  ASSERT_TRUE(p.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", body));
  EXPECT_TRUE(p.headersComplete());
  ASSERT_TRUE(p.feed("c\r\n{\"State\":2}\n\r\n", body));
  EXPECT_EQ(body, "{\"State\":2}\n");
  EXPECT_FALSE(p.done());
  ASSERT_TRUE(p.feed("3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n", body));
  EXPECT_TRUE(p.done());
  EXPECT_EQ(body, "{\"State\":2}\nabc");
}

TEST(HttpResponseParser, CloseDelimitedAndNoContent) {
  HttpResponseParser p;
  std::string body = feedBytewise(p, "HTTP/1.1 200 OK\r\n\r\nuntil close");
  EXPECT_FALSE(p.done());
  ASSERT_TRUE(p.finish());
  EXPECT_TRUE(p.done());
  EXPECT_EQ(body, "until close");

  HttpResponseParser q;
  std::string b2;
  ASSERT_TRUE(q.feed("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", b2));
  EXPECT_TRUE(q.done());
  EXPECT_EQ(q.status(), 204);
}

TEST(HttpResponseParser, BareLfAndInterimResponse) {
  HttpResponseParser p;
  std::string body;
  ASSERT_TRUE(p.feed("HTTP/1.1 100 Continue\n\nHTTP/1.1 403 Forbidden\nContent-Length: 7\n\ndenied\n", body));
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.status(), 403);
  EXPECT_EQ(body, "denied\n");
}

TEST(HttpResponseParser, RejectsGarbage) {
  for (const char* bad :
       {"SSH-2.0-OpenSSH\r\n", "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 abc OK\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"}) {
    HttpResponseParser p;
    std::string body;
    EXPECT_FALSE(p.feed(bad, body)) << bad;
    EXPECT_FALSE(p.feed("more", body)) << "stays failed: " << bad;
  }
}

TEST(HttpResponseParser, HeaderFloodIsBounded) {
  HttpResponseParser p;
  std::string body;
  ASSERT_TRUE(p.feed("HTTP/1.1 200 OK\r\n", body));
  std::string big(HttpResponseParser::MAX_HEADER_BYTES + 10, 'a');
  EXPECT_FALSE(p.feed(big, body));
}

TEST(HttpResponseParser, TruncatedResponseIsAnError) {
  HttpResponseParser p;
  std::string body;
  ASSERT_TRUE(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", body));
  auto r = p.finish();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::DISCONNECTED);

  HttpResponseParser empty;
  EXPECT_FALSE(empty.finish());
}

}  // namespace
}  // namespace tnet::cli
