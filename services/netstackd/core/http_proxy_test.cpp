#include "services/netstackd/core/http_proxy.h"

#include <gtest/gtest.h>

#include <string_view>

namespace tnet::netstack::http {
namespace {

ProxyRequest parse(std::string_view s) {
  return parseProxyRequest({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}

TEST(HttpProxy, Connect) {
  auto r = parse("CONNECT peer.tail.ts.net:443 HTTP/1.1\r\nHost: peer.tail.ts.net:443\r\n\r\nextra");
  ASSERT_EQ(r.status, Status::OK);
  EXPECT_TRUE(r.isConnect);
  EXPECT_EQ(r.host, "peer.tail.ts.net");
  EXPECT_EQ(r.port, 443);
  EXPECT_EQ(
      r.headLen,
      std::string_view("CONNECT peer.tail.ts.net:443 HTTP/1.1\r\nHost: peer.tail.ts.net:443\r\n\r\n").size());
  auto v6 = parse("CONNECT [fd7a:115c:a1e0::1]:22 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(v6.status, Status::OK);
  EXPECT_EQ(v6.host, "fd7a:115c:a1e0::1");
  EXPECT_EQ(v6.port, 22);
  EXPECT_EQ(parse("CONNECT host HTTP/1.1\r\n\r\n").status, Status::FAIL);  // port required
  EXPECT_EQ(parse("CONNECT host:0 HTTP/1.1\r\n\r\n").status, Status::FAIL);
  EXPECT_EQ(parse("CONNECT host:99999 HTTP/1.1\r\n\r\n").status, Status::FAIL);
  EXPECT_EQ(parse("CONNECT fd7a::1:22 HTTP/1.1\r\n\r\n").status, Status::FAIL);
}

TEST(HttpProxy, AbsoluteUriIsForwardedInOriginForm) {
  auto r = parse(
      "GET http://100.64.0.2:8080/a/b?x=1#frag HTTP/1.1\r\nHost: 100.64.0.2:8080\r\nProxy-Connection: "
      "keep-alive\r\n"
      "Proxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n");
  ASSERT_EQ(r.status, Status::OK);
  EXPECT_FALSE(r.isConnect);
  EXPECT_EQ(r.host, "100.64.0.2");
  EXPECT_EQ(r.port, 8080);
  EXPECT_EQ(r.forwardHead,
            "GET /a/b?x=1 HTTP/1.1\r\nHost: 100.64.0.2:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n");
  auto noPath = parse("HEAD http://peer HTTP/1.0\r\n\r\n");
  ASSERT_EQ(noPath.status, Status::OK);
  EXPECT_EQ(noPath.port, 80);
  EXPECT_EQ(noPath.forwardHead, "HEAD / HTTP/1.0\r\nHost: peer\r\nConnection: close\r\n\r\n");
}

TEST(HttpProxy, Refusals) {
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n\r\n").status, Status::FAIL);
  EXPECT_EQ(parse("GET https://x/ HTTP/1.1\r\n\r\n").status, Status::FAIL);
  EXPECT_EQ(parse("GET http://u@x/ HTTP/1.1\r\n\r\n").status, Status::FAIL);
  EXPECT_EQ(parse("GET http://x/ HTTP/2.0\r\n\r\n").failStatus, 505);
  EXPECT_EQ(parse("G(T http://x/ HTTP/1.1\r\n\r\n").status, Status::FAIL);
  EXPECT_EQ(parse("GET http://x/ HTTP/1.1\r\nbad header\r\n\r\n").status, Status::FAIL);
  EXPECT_EQ(parse("GET http://x/ HTTP/1.1\r\nHost: x\r\n").status, Status::NEED_MORE);
  std::string big = "GET http://x/ HTTP/1.1\r\nA: " + std::string(MAX_HEAD, 'a');
  EXPECT_EQ(parse(big).failStatus, 431);
  std::string many = "GET http://x/ HTTP/1.1\r\n";
  for (size_t i = 0; i <= MAX_HEADERS; ++i) many += "A: b\r\n";
  EXPECT_EQ(parse(many + "\r\n").failStatus, 431);
}

TEST(HttpProxy, Responses) {
  EXPECT_EQ(buildResponse(200), "HTTP/1.1 200 OK\r\n\r\n");
  auto r = buildResponse(502, "network unreachable\r\nX: y");
  EXPECT_NE(r.find("HTTP/1.1 502 Bad Gateway\r\n"), std::string::npos);
  EXPECT_NE(r.find("Tailscale-Connect-Error: network unreachable  X: y\r\n"), std::string::npos);
}

}  // namespace
}  // namespace tnet::netstack::http
