#include "libs/ipn/dns_name.h"

#include <gtest/gtest.h>

namespace tnet::ipn {
namespace {

TEST(DnsName, ValidHostname) {
  EXPECT_TRUE(validHostname("web-1"));
  EXPECT_TRUE(validHostname("a.b.c."));
  EXPECT_TRUE(validHostname("x"));
  EXPECT_EQ(validHostname("bad_name").error().message,
            "\"bad_name\" is not a valid DNS label: contains invalid character '_'");
  EXPECT_EQ(validHostname("a..b").error().message, "empty DNS label");
  EXPECT_EQ(validHostname("end-").error().message,
            "\"end-\" is not a valid DNS label: must end with a letter or number");
  EXPECT_FALSE(validHostname(std::string(64, 'a')));
  std::string longName;
  for (int i = 0; i < 64; ++i) longName += "abc.";
  EXPECT_EQ(validHostname(longName).error().message.find("is too long to be a DNS name") != std::string::npos,
            true);
}

TEST(DnsName, SanitizeAndTrim) {
  EXPECT_EQ(sanitizeHostname("Bravo_Box.local"), "bravo-box");
  EXPECT_EQ(sanitizeHostname("__x y@z__"), "x-y-z");
  EXPECT_EQ(sanitizeHostname(""), "");
  EXPECT_EQ(trimDnsSuffix("alpha.tail1234.ts.net.", "tail1234.ts.net"), "alpha");
  EXPECT_EQ(trimDnsSuffix("alpha.other.net.", "tail1234.ts.net"), "alpha.other.net");
  EXPECT_EQ(trimDnsSuffix("tail1234.ts.net.", "tail1234.ts.net"), "tail1234.ts.net");
  EXPECT_EQ(trimDnsSuffix("", "x"), "");
  EXPECT_EQ(goQuote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
}

}  // namespace
}  // namespace tnet::ipn
