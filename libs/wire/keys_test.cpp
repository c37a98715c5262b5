#include "libs/wire/keys.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <unordered_set>

namespace tnet::key {
namespace {

template <typename T>
concept Streamable = requires(std::ostream& os, const T& t) {
  os << t;
};
static_assert(!Streamable<MachinePrivate> && !Streamable<NodePrivate> && !Streamable<DiscoPrivate>);
static_assert(!std::is_copy_constructible_v<NodePrivate>);
static_assert(std::is_trivially_copyable_v<NodePublic>);
// Go's DiscoPrivate has no text form; ours neither.
template <typename T>
concept HasText = requires(const T& t) {
  t.toText();
};
static_assert(HasText<MachinePrivate> && HasText<NodePrivate> && !HasText<DiscoPrivate>);

constexpr std::string_view MACHINE_PUB_HEX =
    "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f";

MachinePrivate machineKeyFromKat() {
  Bytes raw(32);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = uint8_t(i);
  return MachinePrivate::fromSpan(raw);
}

TEST(Keys, MachinePublicTextRoundTrip) {
  auto pub = machineKeyFromKat().publicKey();
  EXPECT_EQ(pub.toString(), "mkey:" + std::string(MACHINE_PUB_HEX));
  EXPECT_EQ(pub.untypedHex(), MACHINE_PUB_HEX);
  auto back = MachinePublic::parse(pub.toString());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, pub);
  auto untyped = MachinePublic::parseUntyped(MACHINE_PUB_HEX);
  ASSERT_TRUE(untyped);
  EXPECT_EQ(*untyped, pub);
}

TEST(Keys, ZeroKeyEncodesAsPrefixPlusZeros) {
  EXPECT_EQ(MachinePublic().toString(), "mkey:" + std::string(64, '0'));
  EXPECT_EQ(NodePublic().toString(), "nodekey:" + std::string(64, '0'));
  EXPECT_EQ(DiscoPublic().toString(), "discokey:" + std::string(64, '0'));
  EXPECT_TRUE(MachinePrivate().toText().equals("privkey:" + std::string(64, '0')));
  auto z = MachinePublic::parse("mkey:" + std::string(64, '0'));
  ASSERT_TRUE(z);
  EXPECT_TRUE(z->isZero());
  auto zp = NodePrivate::parse("privkey:" + std::string(64, '0'));
  ASSERT_TRUE(zp);
  EXPECT_TRUE(zp->isZero());
}

TEST(Keys, GoSerializationFixture) {
  // types/key/node_test.go TestNodeSerialization: these strings are on disks everywhere.
  const std::string priv = "privkey:40ab1b58e9076c7a4d9d07291f5edf9d1aa017eb949624ba683317f48a640369";
  const std::string pub = "nodekey:50d20b455ecf12bc453f83c2cfdb2a24925d06cf2598dcaa54e91af82ce9f765";
  auto k = NodePrivate::parse(priv);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->secret().raw()[0], 0x40);
  EXPECT_EQ(k->secret().raw()[31], 0x69);
  EXPECT_TRUE(k->toText().equals(priv));
  auto p = NodePublic::parse(pub);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->toString(), pub);
  // Machine and node private keys share the "privkey:" prefix, as in Go.
  auto m = MachinePrivate::parse(priv);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->toText().equals(priv));
}

TEST(Keys, UppercaseHexAcceptedAndReencodedLowercase) {
  std::string upper = "nodekey:50D20B455ECF12BC453F83C2CFDB2A24925D06CF2598DCAA54E91AF82CE9F765";
  auto p = NodePublic::parse(upper);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->toString(), "nodekey:50d20b455ecf12bc453f83c2cfdb2a24925d06cf2598dcaa54e91af82ce9f765");
}

TEST(Keys, MalformedTextIsRejectedWithGoMessages) {
  const std::string hex(MACHINE_PUB_HEX);
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"nodekey:" + hex, "key hex string doesn't have expected type prefix mkey:"},
      {"MKEY:" + hex, "key hex string doesn't have expected type prefix mkey:"},  // prefix is case-sensitive
      {hex, "key hex string doesn't have expected type prefix mkey:"},
      {"", "key hex string doesn't have expected type prefix mkey:"},
      {"mkey:", "key hex has the wrong size, got 0 want 64"},
      {"mkey:" + hex.substr(0, 63), "key hex has the wrong size, got 63 want 64"},
      {"mkey:" + hex + "0", "key hex has the wrong size, got 65 want 64"},
      {"mkey:" + hex + "00", "key hex has the wrong size, got 66 want 64"},
      {"mkey: " + hex.substr(1), "invalid hex character in key"},
      {"mkey:" + hex.substr(0, 63) + "g", "invalid hex character in key"},
      {"mkey:" + hex.substr(0, 62) + "\n0", "invalid hex character in key"},
      {"mkey:" + hex.substr(0, 31) + std::string(1, '\0') + hex.substr(32), "invalid hex character in key"},
  };
  for (const auto& c : cases) {
    auto r = MachinePublic::parse(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().kind, ErrorKind::INVALID);
    EXPECT_EQ(r.error().message, c.message) << c.text;
  }
}

TEST(Keys, PrivateParseErrorsNeverEchoInput) {
  std::string secretish = "privkey:" + std::string(63, 'a') + "z";
  auto r = NodePrivate::parse(secretish);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("aaaa"), std::string::npos);
  EXPECT_FALSE(NodePrivate::parse("nodekey:" + std::string(64, 'a')));
  EXPECT_FALSE(MachinePrivate::parse("mkey:" + std::string(64, 'a')));
}

TEST(Keys, ShortStringMatchesGo) {
  auto pub = machineKeyFromKat().publicKey();
  // base64(8f 40 c5 ad …) = "j0DFra…"
  EXPECT_EQ(pub.shortString(), "[j0DFr]");
  EXPECT_EQ(MachinePublic().shortString(), "");
  EXPECT_EQ(NodePublic(pub.raw()).shortString(), "[j0DFr]");
  // DiscoPublic.ShortString is different in Go: "d:" + hex of 8 bytes.
  EXPECT_EQ(DiscoPublic(pub.raw()).shortString(), "d:8f40c5adb68f2562");
  EXPECT_EQ(DiscoPublic().shortString(), "");
}

TEST(Keys, ChallengePublic) {
  auto c = ChallengePublic::parse("chalpub:" + std::string(MACHINE_PUB_HEX));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->toString(), "chalpub:" + std::string(MACHINE_PUB_HEX));
  EXPECT_FALSE(ChallengePublic::parse("mkey:" + std::string(MACHINE_PUB_HEX)));
}

TEST(Keys, JsonLikeGoMarshalText) {
  // The /key reply: {"legacyPublicKey":"mkey:000…","publicKey":"mkey:…"}.
  const std::string body = "{\"legacyPublicKey\":\"mkey:" + std::string(64, '0') +
                           "\",\"publicKey\":\"mkey:" + std::string(MACHINE_PUB_HEX) + "\"}";
  auto j = nlohmann::json::parse(body);
  auto legacy = j["legacyPublicKey"].get<MachinePublic>();
  auto noise = j["publicKey"].get<MachinePublic>();
  EXPECT_TRUE(legacy.isZero());
  EXPECT_EQ(noise.untypedHex(), MACHINE_PUB_HEX);
  nlohmann::json out = {{"publicKey", noise}, {"Node", NodePublic()}};
  EXPECT_EQ(out.dump(), "{\"Node\":\"nodekey:" + std::string(64, '0') +
                            "\",\"publicKey\":\"mkey:" + std::string(MACHINE_PUB_HEX) + "\"}");
  EXPECT_TRUE(nlohmann::json(nullptr).get<NodePublic>().isZero());
  EXPECT_THROW(nlohmann::json(5).get<NodePublic>(), nlohmann::json::type_error);
  EXPECT_THROW(nlohmann::json("nodekey:zz").get<NodePublic>(), nlohmann::json::other_error);
  EXPECT_THROW(nlohmann::json(noise.toString()).get<NodePublic>(), nlohmann::json::other_error);
  std::vector<DiscoPublic> list =
      nlohmann::json::parse("[\"discokey:" + std::string(MACHINE_PUB_HEX) + "\"]");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].shortString(), "d:8f40c5adb68f2562");
}

TEST(Keys, GeneratedKeysAreClampedAndDistinct) {
  auto a = NodePrivate::generate();
  auto b = NodePrivate::generate();
  EXPECT_FALSE(a.isZero());
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a.clone() == a);
  EXPECT_EQ(a.secret().raw()[0] & 7, 0);
  EXPECT_NE(a.publicKey(), b.publicKey());
  auto d = DiscoPrivate::generate();
  EXPECT_FALSE(d.publicKey().isZero());
  // Private text round trip.
  auto text = a.toText();
  auto back = NodePrivate::parse(text.view());
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == a);
}

TEST(Keys, NodePublicBinaryForm) {
  auto pub = NodePublic(machineKeyFromKat().publicKey().raw());
  Bytes bin = nodePublicToBinary(pub);
  ASSERT_EQ(bin.size(), 34u);
  EXPECT_EQ(bin[0], 'n');
  EXPECT_EQ(bin[1], 'p');
  auto back = nodePublicFromBinary(bin);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, pub);
  bin[1] = 'k';
  EXPECT_FALSE(nodePublicFromBinary(bin));
  EXPECT_FALSE(nodePublicFromBinary(ByteSpan(nodePublicToBinary(pub)).first(33)));
  EXPECT_FALSE(NodePublic::fromBytes(Bytes(31)));
}

TEST(Keys, OrderedAndHashable) {
  std::unordered_set<NodePublic> set;
  set.insert(NodePublic());
  set.insert(NodePublic(machineKeyFromKat().publicKey().raw()));
  set.insert(NodePublic());
  EXPECT_EQ(set.size(), 2u);
  EXPECT_LT(NodePublic(), NodePublic(machineKeyFromKat().publicKey().raw()));
}

}  // namespace
}  // namespace tnet::key
