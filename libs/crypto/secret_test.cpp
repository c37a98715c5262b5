#include "libs/crypto/secret.h"

#include <gtest/gtest.h>

#include <ostream>
#include <type_traits>
#include <utility>

namespace tnet::crypto {
namespace {

// Logging a secret must not compile: no operator<<, no copies, no range access for fmt.
template <typename T>
concept Streamable = requires(std::ostream& os, const T& t) {
  os << t;
};
template <typename T>
concept Iterable = requires(const T& t) {
  t.begin();
};

static_assert(!Streamable<SecretKey32>);
static_assert(!Streamable<PrivateKey>);
static_assert(!Streamable<SecretString>);
static_assert(!Iterable<SecretKey32> && !Iterable<PrivateKey> && !Iterable<SecretString>);
static_assert(!std::is_copy_constructible_v<SecretKey32> && !std::is_copy_assignable_v<SecretKey32>);
static_assert(!std::is_copy_constructible_v<PrivateKey> && !std::is_copy_assignable_v<PrivateKey>);
static_assert(!std::is_copy_constructible_v<SecretString>);
static_assert(std::is_nothrow_move_constructible_v<SecretKey32>);
static_assert(std::is_nothrow_move_constructible_v<PrivateKey>);
static_assert(!std::is_convertible_v<SecretKey32, ByteSpan>);
static_assert(!std::is_convertible_v<SecretString, std::string_view>);

TEST(Secret, MoveWipesTheSource) {
  auto a = SecretKey32::random();
  ASSERT_FALSE(a.isZero());
  SecretKey32 copy = a.clone();
  SecretKey32 b(std::move(a));
  EXPECT_TRUE(a.isZero());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_TRUE(b == copy);
  SecretKey32 c;
  c = std::move(b);
  EXPECT_TRUE(b.isZero());  // NOLINT
  EXPECT_TRUE(c.equals(copy));
}

TEST(Secret, ConstantTimeCompareSeesEveryByte) {
  auto a = SecretKey32::random();
  for (size_t i = 0; i < a.size(); ++i) {
    auto b = a.clone();
    b.mutableBytes()[i] ^= 0x80;
    EXPECT_FALSE(a == b) << "byte " << i;
  }
  EXPECT_FALSE(a.equals(ByteSpan(a.bytes().data(), 31)));
}

TEST(Secret, DestructorWipesInPlace) {
  alignas(SecretKey32) uint8_t storage[sizeof(SecretKey32)];
  auto* s = new (storage) SecretKey32(SecretKey32::random());
  ASSERT_FALSE(isZeroConstantTime(ByteSpan(storage, sizeof storage)));
  s->~SecretKey32();
  EXPECT_TRUE(isZeroConstantTime(ByteSpan(storage, sizeof storage)));
}

TEST(PrivateKey, ZeroByDefaultAndAfterMove) {
  PrivateKey z;
  EXPECT_TRUE(z.isZero());
  auto k = PrivateKey::generate();
  EXPECT_FALSE(k.isZero());
  // Clamped as Go's key.NewMachine does.
  EXPECT_EQ(k.raw()[0] & 7, 0);
  EXPECT_EQ(k.raw()[31] & 0xc0, 0x40);
  Key32 pub = k.publicKey();
  const Key32* where = &k.raw();
  PrivateKey moved(std::move(k));
  EXPECT_TRUE(k.isZero());  // NOLINT
  EXPECT_EQ(&moved.raw(), where) << "moving must hand over the allocation, not copy the bytes";
  EXPECT_EQ(moved.publicKey(), pub);
  PrivateKey assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.publicKey(), pub);
  EXPECT_TRUE(moved.isZero());  // NOLINT
}

TEST(PrivateKey, SharedSecretAgreesAndRejectsLowOrder) {
  auto a = PrivateKey::generate();
  auto b = PrivateKey::generate();
  SecretKey32 ab, ba;
  ASSERT_TRUE(a.sharedSecret(ab, b.publicKey()));
  ASSERT_TRUE(b.sharedSecret(ba, a.publicKey()));
  EXPECT_TRUE(ab == ba);
  SecretKey32 bad;
  EXPECT_FALSE(a.sharedSecret(bad, Key32{}));
  EXPECT_TRUE(a.clone() == a);
  EXPECT_FALSE(a == b);
}

TEST(PrivateKey, KnownPublicKey) {
  // Client machine key of ts2021-controlbase-kat.json: private = bytes 00..1f.
  Key32 raw;
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = uint8_t(i);
  auto k = PrivateKey::fromSpan(raw);
  EXPECT_EQ(hexEncode(k.publicKey()), "8f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285f");
}

TEST(SecretString, MoveAndClear) {
  SecretString s(std::string("privkey:00112233"));
  EXPECT_TRUE(s.equals("privkey:00112233"));
  EXPECT_FALSE(s.equals("privkey:00112234"));
  SecretString t(std::move(s));
  EXPECT_TRUE(s.empty());  // NOLINT
  EXPECT_EQ(t.view(), "privkey:00112233");
  t.clear();
  EXPECT_TRUE(t.empty());
}

TEST(Base64, MatchesGoStdEncoding) {
  Bytes four{0x8f, 0x40, 0xc5, 0xad};
  EXPECT_EQ(base64Encode(four), "j0DFrQ==");
  EXPECT_EQ(base64Encode({}), "");
  auto back = base64Decode("j0DFrQ==");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, four);
  EXPECT_FALSE(base64Decode("j0DFrQ"));    // padding required
  EXPECT_FALSE(base64Decode("j0DFrR=="));  // non-canonical trailing bits
  EXPECT_FALSE(base64Decode("j0DF-Q=="));  // URL alphabet is not std
  EXPECT_FALSE(base64Decode("j0DFrQ==AAAA"));
}

TEST(Hex, DecodeIntoIsStrict) {
  uint8_t out[2];
  EXPECT_TRUE(hexDecodeInto(out, "aBcD"));
  EXPECT_EQ(out[0], 0xab);
  EXPECT_EQ(out[1], 0xcd);
  EXPECT_FALSE(hexDecodeInto(out, "abc"));
  EXPECT_FALSE(hexDecodeInto(out, "abcdef"));
  EXPECT_FALSE(hexDecodeInto(out, "ab:d"));
  EXPECT_FALSE(hexDecodeInto(out, "ab d"));
  EXPECT_EQ(out[0], 0) << "a failed decode leaves no partial secret";
  EXPECT_EQ(hexEncodeWithPrefix("p:", Bytes{0x0a, 0xff}), "p:0aff");
}

}  // namespace
}  // namespace tnet::crypto
