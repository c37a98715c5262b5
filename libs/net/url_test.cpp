#include "libs/net/url.h"

#include <gtest/gtest.h>

#include "libs/net/http_types.h"

namespace tnet::net {
namespace {

TEST(Url, ParsesSchemesPortsAndTargets) {
  auto u = parseUrl("https://controlplane.tailscale.com");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "controlplane.tailscale.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_FALSE(u->explicitPort);
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->hostHeader(), "controlplane.tailscale.com");

  u = parseUrl("http://127.0.0.1:8080/key?v=116");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, 8080);
  EXPECT_TRUE(u->explicitPort);
  EXPECT_EQ(u->target, "/key?v=116");
  EXPECT_EQ(u->hostHeader(), "127.0.0.1:8080");

  u = parseUrl("http://[::1]:9/x#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9);
  EXPECT_EQ(u->target, "/x");
  EXPECT_EQ(u->hostHeader(), "[::1]:9");

  u = parseUrl("http://h#frag/x");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "h");
  EXPECT_EQ(u->target, "/");

  u = parseUrl("http://host?q=1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/?q=1");
}

TEST(Url, RejectsMalformed) {
  for (const char* bad :
       {"", "ftp://x", "http://", "http://:80", "http://h:0", "http://h:65536", "http://h:8a", "http://u@h/",
        "http://[::1", "http://[::1]x", "http://::1/", "http://h /x", "https://h:/"}) {
    EXPECT_FALSE(parseUrl(bad)) << bad;
  }
}

TEST(HttpTypes, HeaderValueIgnoresCase) {
  HeaderList h{{"Content-Type", "a"}, {"content-type", "b"}, {"X", ""}};
  EXPECT_EQ(headerValue(h, "CONTENT-TYPE"), "a");
  EXPECT_EQ(headerValue(h, "x"), "");
  EXPECT_FALSE(headerValue(h, "y"));
}

}  // namespace
}  // namespace tnet::net
