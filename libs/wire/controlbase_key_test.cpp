#include "libs/wire/controlbase_key.h"

#include <gtest/gtest.h>

#include <string>

namespace tnet::controlbase {
namespace {

const std::string HEX = "79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a";
const std::string ZERO(64, '0');

Result<ServerKeys> parse(const std::string& s) {
  return parseServerKeyResponse(ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST(ServerKey, CurrentJsonForm) {
  auto k = parse("{\"legacyPublicKey\":\"mkey:" + ZERO + "\",\"publicKey\":\"mkey:" + HEX + "\"}\n");
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_TRUE(k->legacyPublicKey.isZero());
  EXPECT_EQ(k->publicKey.untypedHex(), HEX);
  auto noise = noiseKeyOf(*k);
  ASSERT_TRUE(noise);
  EXPECT_EQ(noise->untypedHex(), HEX);
}

TEST(ServerKey, GoJsonRules) {
  auto folded = parse("{\"PublicKey\":\"mkey:" + HEX + "\",\"extra\":{\"x\":[1]}}");
  ASSERT_TRUE(folded);
  EXPECT_EQ(folded->publicKey.untypedHex(), HEX);
  auto nulls = parse("{\"publicKey\":null}");
  ASSERT_TRUE(nulls);
  EXPECT_TRUE(nulls->publicKey.isZero());
  EXPECT_TRUE(parse("null"));
  EXPECT_FALSE(parse("{\"publicKey\":\"nodekey:" + HEX + "\"}"));
  EXPECT_FALSE(parse("{\"publicKey\":7}"));
  EXPECT_FALSE(parse("[]"));
}

TEST(ServerKey, LegacyBareHexFallback) {
  auto k = parse(HEX);
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_EQ(k->legacyPublicKey.untypedHex(), HEX);
  EXPECT_TRUE(k->publicKey.isZero());
  auto noise = noiseKeyOf(*k);
  ASSERT_FALSE(noise);
  EXPECT_EQ(noise.error().message, "control server is too old; no noise key");
  // Go parses the whole body: a trailing newline makes it neither JSON nor a key.
  auto bad = parse(HEX + "\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("key hex has the wrong size, got 65 want 64"), std::string::npos);
  EXPECT_FALSE(parse(""));
  EXPECT_FALSE(parse("<html>"));
}

TEST(ServerKey, OnlyTheFirst64KiBCount) {
  std::string body = "{\"publicKey\":\"mkey:" + HEX + "\"}";
  body += std::string(MAX_KEY_RESPONSE_LEN - body.size(), ' ');
  EXPECT_TRUE(parse(body + "garbage")) << "bytes after 64 KiB are never read";
  EXPECT_FALSE(parse(body.substr(0, body.size() - 1) + "garbage"));
}

}  // namespace
}  // namespace tnet::controlbase
