#include "services/apid/core/url.h"

#include <gtest/gtest.h>

namespace tnet::apid {
namespace {

TEST(Url, OriginFormSplitsPathAndQuery) {
  auto t = parseRequestTarget("/localapi/v0/status?peers=false");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/localapi/v0/status");
  EXPECT_EQ(t->rawQuery, "peers=false");
  EXPECT_FALSE(t->absolute);
  EXPECT_EQ(parseRequestTarget("/a%2Fb")->path, "/a/b");  // Go's URL.Path is unescaped
  EXPECT_EQ(parseRequestTarget("/x?")->rawQuery, "");
}

TEST(Url, AbsoluteFormCarriesHost) {
  auto t = parseRequestTarget("http://local-tailscaled.sock/localapi/v0/prefs?a=1");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->absolute);
  EXPECT_EQ(t->host, "local-tailscaled.sock");
  EXPECT_EQ(t->path, "/localapi/v0/prefs");
  EXPECT_EQ(t->rawQuery, "a=1");
  auto bare = parseRequestTarget("HTTP://evil.example");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->host, "evil.example");
  EXPECT_EQ(bare->path, "");
}

TEST(Url, RejectsMalformedTargets) {
  EXPECT_FALSE(parseRequestTarget(""));
  EXPECT_FALSE(parseRequestTarget("*"));
  EXPECT_FALSE(parseRequestTarget("status"));
  EXPECT_FALSE(parseRequestTarget("/a%zz"));
  EXPECT_FALSE(parseRequestTarget("/a%4"));
  EXPECT_FALSE(parseRequestTarget("/a\x01"));
  EXPECT_FALSE(parseRequestTarget("/a#frag"));
}

TEST(Url, PercentDecode) {
  EXPECT_EQ(*percentDecode("a%20b+c", false), "a b+c");
  EXPECT_EQ(*percentDecode("a%20b+c", true), "a b c");
  EXPECT_FALSE(percentDecode("%", true));
  EXPECT_FALSE(percentDecode("%a", true));
  EXPECT_EQ(*percentDecode("%41%42", true), "AB");
}

TEST(Url, QueryValueFollowsGoParseQuery) {
  EXPECT_EQ(*queryValue("mask=5", "mask"), "5");
  EXPECT_EQ(*queryValue("a=1&mask=7&mask=8", "mask"), "7");  // first value wins
  EXPECT_EQ(*queryValue("mask", "mask"), "");
  EXPECT_EQ(*queryValue("ma%73k=1", "mask"), "1");
  EXPECT_FALSE(queryValue("", "mask"));
  EXPECT_FALSE(queryValue("other=1", "mask"));
  EXPECT_EQ(*queryValue("mask=%zz&mask=3", "mask"), "3");    // bad pair skipped
  EXPECT_EQ(*queryValue("mask=1;x=2&mask=4", "mask"), "4");  // ';' pair rejected by Go
}

TEST(Url, Base64LikeGoStdEncoding) {
  EXPECT_TRUE(isValidStdBase64(""));
  EXPECT_TRUE(isValidStdBase64("aGVsbG8="));
  EXPECT_TRUE(isValidStdBase64("aGk="));
  EXPECT_TRUE(isValidStdBase64("aA=="));
  EXPECT_TRUE(isValidStdBase64("aA\r\n=="));
  EXPECT_FALSE(isValidStdBase64("aGk"));  // missing padding
  EXPECT_FALSE(isValidStdBase64("a==="));
  EXPECT_FALSE(isValidStdBase64("aA=a"));
  EXPECT_FALSE(isValidStdBase64("aGk-"));  // URL alphabet
  EXPECT_FALSE(isValidStdBase64("not base64!"));
}

}  // namespace
}  // namespace tnet::apid
