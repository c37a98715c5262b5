#include <gtest/gtest.h>

#include "libs/base/bytes.h"
#include "libs/crypto/crypto.h"

namespace tnet::crypto {
namespace {


TEST(Blake2s, EmptyInputKnownAnswer) {
  // BLAKE2s-256("") from RFC 7693 Appendix test vectors.
  uint8_t out[32];
  blake2s(out, {ByteSpan()});
  EXPECT_EQ(hexEncode(out), "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
}

TEST(HmacBlake2s, MatchesNoiseConstructionKeyLongerThanBlock) {
  // HMAC with an over-long key must equal HMAC with BLAKE2s(key) as key (RFC 2104).
  Bytes longKey(100, 0x42);
  uint8_t hashed[32];
  blake2s(hashed, {longKey});
  uint8_t a[32], b[32];
  Bytes msg{'a', 'b', 'c'};
  hmacBlake2s(a, longKey, {msg});
  hmacBlake2s(b, ByteSpan(hashed, 32), {msg});
  EXPECT_EQ(hexEncode(a), hexEncode(b));
}

TEST(Aead, SealOpenAndTamper) {
  init();
  Key32 key{};
  randomBytes(key);
  Bytes plain{1, 2, 3, 4, 5};
  Bytes sealed(plain.size() + AEAD_TAG_LEN);
  auto n = nonceLE(7);
  aeadSeal(sealed, key, n, plain, {});
  Bytes opened(plain.size());
  ASSERT_TRUE(aeadOpen(opened, key, n, sealed, {}));
  EXPECT_EQ(opened, plain);
  sealed[0] ^= 1;
  EXPECT_FALSE(aeadOpen(opened, key, n, sealed, {}));
  auto be = nonceBE(1);
  EXPECT_EQ(be[11], 1);
  EXPECT_EQ(nonceLE(1)[4], 1);
}

TEST(X25519, RejectsLowOrderPoint) {
  init();
  Key32 priv{}, zero{}, shared{};
  generatePrivateKey(priv);
  EXPECT_FALSE(x25519(shared, priv, zero));
}

TEST(Box, RoundTripBetweenTwoKeys) {
  init();
  Key32 aPriv, aPub, bPriv, bPub;
  generatePrivateKey(aPriv);
  generatePrivateKey(bPriv);
  x25519Base(aPub, aPriv);
  x25519Base(bPub, bPriv);
  std::array<uint8_t, BOX_NONCE_LEN> nonce{};
  Bytes plain{'h', 'i'};
  Bytes sealed(plain.size() + BOX_OVERHEAD);
  ASSERT_TRUE(boxSeal(sealed, plain, nonce, bPub, aPriv));
  Bytes opened(plain.size());
  ASSERT_TRUE(boxOpen(opened, sealed, nonce, aPub, bPriv));
  EXPECT_EQ(opened, plain);
}

}  // namespace
}  // namespace tnet::crypto
