#include "libs/wire/controlbase_early.h"

#include <gtest/gtest.h>

#include "libs/wire/controlbase.h"
#include "libs/wire/noise_test_util.h"

namespace tnet::controlbase {
namespace {

using testing::unhex;

Bytes bytesOf(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

Bytes earlyFrame(std::string_view json) {
  Bytes out = bytesOf(EARLY_PAYLOAD_MAGIC);
  out.resize(EARLY_HEADER_LEN);
  putU32BE(out.data() + 5, uint32_t(json.size()));
  out.insert(out.end(), json.begin(), json.end());
  return out;
}

const std::string CHALLENGE = "chalpub:" + std::string(62, '0') + "2a";

TEST(EarlyPayload, KnownAnswerRecordFromTheVector) {
  TNET_LOAD_VECTOR_OR_SKIP(v, "ts2021-controlbase-kat.json");
  const auto& t = v["transport_same_for_both_capvers"];
  RecordOpener rx(crypto::SecretKey32::fromSpan(unhex(t["client_rx_key"])));
  Bytes plain;
  for (const auto& rec : t["records"]) {
    if (rec["dir"] == "server->client") {
      ASSERT_TRUE(rx.open(unhex(rec["record"]), plain));
    }
  }
  EarlyPayloadReader reader;
  Bytes stream;
  ASSERT_TRUE(reader.feed(plain, stream));
  EXPECT_TRUE(reader.done());
  ASSERT_TRUE(reader.earlyNoise());
  EXPECT_TRUE(reader.earlyNoise()->nodeKeyChallenge.isZero());
  EXPECT_TRUE(stream.empty());
}

TEST(EarlyPayload, WithChallengeThenHttp2ByteByByte) {
  Bytes wire = earlyFrame("{\"nodeKeyChallenge\":\"" + CHALLENGE + "\"}");
  const Bytes settings = unhex(nlohmann::json("000000040000000000"));  // empty SETTINGS frame
  wire.insert(wire.end(), settings.begin(), settings.end());
  EarlyPayloadReader reader;
  Bytes stream;
  for (uint8_t b : wire) ASSERT_TRUE(reader.feed(ByteSpan(&b, 1), stream));
  ASSERT_TRUE(reader.done() && reader.earlyNoise());
  EXPECT_EQ(reader.earlyNoise()->nodeKeyChallenge.toString(), CHALLENGE);
  EXPECT_EQ(stream, settings);
}

TEST(EarlyPayload, AbsentMeansTheNineBytesAreHttp2) {
  const Bytes settings = unhex(nlohmann::json("000000040000000000000000040100000000"));
  EarlyPayloadReader reader;
  Bytes stream;
  ASSERT_TRUE(reader.feed(ByteSpan(settings).first(4), stream));
  EXPECT_FALSE(reader.done());
  EXPECT_TRUE(stream.empty());
  ASSERT_TRUE(reader.feed(ByteSpan(settings).subspan(4), stream));
  EXPECT_TRUE(reader.done());
  EXPECT_FALSE(reader.earlyNoise());
  EXPECT_EQ(stream, settings);
  Bytes more{1, 2, 3};
  ASSERT_TRUE(reader.feed(more, stream));
  EXPECT_EQ(stream.size(), settings.size() + 3);
}

TEST(EarlyPayload, LengthLimitAndBadJsonArePermanentErrors) {
  Bytes huge = bytesOf(EARLY_PAYLOAD_MAGIC);
  huge.resize(EARLY_HEADER_LEN);
  putU32BE(huge.data() + 5, MAX_EARLY_PAYLOAD_LEN + 1);
  EarlyPayloadReader reader;
  Bytes stream;
  auto r = reader.feed(huge, stream);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "invalid early payload length");
  EXPECT_FALSE(reader.feed(Bytes{0}, stream));

  for (std::string bad : std::vector<std::string>{"{", "[]", "{\"nodeKeyChallenge\":5}",
                                                  "{\"nodeKeyChallenge\":\"nodekey:00\"}", "{} x",
                                                  std::string(100, '[') + std::string(100, ']')}) {
    EarlyPayloadReader rd;
    Bytes s;
    EXPECT_FALSE(rd.feed(earlyFrame(bad), s)) << bad;
  }
  EarlyPayloadReader small(4);
  EXPECT_TRUE(small.feed(earlyFrame("{ } "), stream)) << "a payload at the limit is fine";
  EarlyPayloadReader tooSmall(3);
  EXPECT_FALSE(tooSmall.feed(earlyFrame("{ } "), stream));
}

TEST(EarlyPayload, JsonLikeGo) {
  auto ok = [](std::string_view j) { return parseEarlyNoise(bytesOf(j)); };
  EXPECT_TRUE(ok("null"));
  EXPECT_TRUE(ok("{}"));
  EXPECT_TRUE(ok("{\"other\":[1,2,{}],\"nodeKeyChallenge\":null}"));
  auto folded = ok("{\"NODEKEYCHALLENGE\":\"" + CHALLENGE + "\"}");
  ASSERT_TRUE(folded);
  EXPECT_EQ(folded->nodeKeyChallenge.toString(), CHALLENGE);
  // As Go: a later null leaves the field alone; a later value replaces it, whatever its case.
  auto nullKeeps = ok("{\"nodeKeyChallenge\":\"" + CHALLENGE + "\",\"NodeKeyChallenge\":null}");
  ASSERT_TRUE(nullKeeps);
  EXPECT_EQ(nullKeeps->nodeKeyChallenge.toString(), CHALLENGE);
  const std::string other = "chalpub:" + std::string(62, '0') + "2b";
  auto lastWins = ok("{\"NodeKeyChallenge\":\"" + other + "\",\"nodeKeyChallenge\":\"" + CHALLENGE + "\"}");
  ASSERT_TRUE(lastWins);
  EXPECT_EQ(lastWins->nodeKeyChallenge.toString(), CHALLENGE);
  auto lastWins2 = ok("{\"nodeKeyChallenge\":\"" + CHALLENGE + "\",\"NodeKeyChallenge\":\"" + other + "\"}");
  ASSERT_TRUE(lastWins2);
  EXPECT_EQ(lastWins2->nodeKeyChallenge.toString(), other);
  EXPECT_FALSE(ok("{\"nodeKeyChallenge\":\"" + CHALLENGE + "\",\"nodekeychallenge\":\"bad\"}"));
  EXPECT_FALSE(ok("\"str\""));
}

}  // namespace
}  // namespace tnet::controlbase
