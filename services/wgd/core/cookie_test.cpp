// MAC1/MAC2 and cookie replies, after wireguard-go's device/cookie_test.go, plus the secret's
// two-minute lifetime.
#include "services/wgd/core/cookie.h"

#include <gtest/gtest.h>

#include "services/wgd/core/test_support.h"

namespace tnet::wg {
namespace {

using namespace std::chrono_literals;

class Cookies : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    crypto::Key32 priv;
    crypto::generatePrivateKey(priv);
    crypto::x25519Base(pub_, priv);
    generator_.init(pub_);
    checker_.init(pub_);
  }
  Bytes message(size_t size, uint8_t seed) {
    Bytes m(size);
    for (size_t i = 0; i < size; ++i) m[i] = uint8_t(seed + i * 7);
    return m;
  }
  crypto::Key32 pub_;
  CookieGenerator generator_;
  CookieChecker checker_;
  testing::ScriptedRandom random_;
  const Bytes src_{192, 168, 13, 37, 10, 10, 10};
};

TEST_F(Cookies, Mac1VerifiesAndMac2AbsentWithoutCookie) {
  for (size_t size : {128, 64, 32}) {
    Bytes msg = message(size, uint8_t(size));
    generator_.addMacs(msg, 0s);
    EXPECT_TRUE(checker_.checkMac1(msg));
    EXPECT_FALSE(checker_.checkMac2(msg, src_, 0s));
    msg[5] ^= 0x20;
    EXPECT_FALSE(checker_.checkMac1(msg));
  }
}

TEST_F(Cookies, Mac1IsKeyedByTheReceiversPublicKey) {
  crypto::Key32 otherPriv, otherPub;
  crypto::generatePrivateKey(otherPriv);
  crypto::x25519Base(otherPub, otherPriv);
  CookieChecker other;
  other.init(otherPub);
  Bytes msg = message(148, 1);
  generator_.addMacs(msg, 0s);
  EXPECT_FALSE(other.checkMac1(msg));
}

TEST_F(Cookies, ReplyGivesAMac2ThatBindsTheSource) {
  Bytes msg = message(128, 9);
  generator_.addMacs(msg, 0s);
  auto reply = checker_.createReply(msg, 1377, src_, 0s, random_);
  EXPECT_EQ(reply.receiver, 1377u);
  ASSERT_TRUE(generator_.consumeReply(reply, 0s));

  for (size_t size : {64, 256}) {
    Bytes m = message(size, uint8_t(size + 3));
    generator_.addMacs(m, 1s);
    EXPECT_TRUE(checker_.checkMac1(m));
    EXPECT_TRUE(checker_.checkMac2(m, src_, 1s));
    m[5] ^= 0x20;
    EXPECT_FALSE(checker_.checkMac1(m));
    EXPECT_FALSE(checker_.checkMac2(m, src_, 1s));
    m[5] ^= 0x20;
    EXPECT_FALSE(checker_.checkMac2(m, Bytes{192, 168, 13, 37, 40, 1}, 1s));
    EXPECT_FALSE(checker_.checkMac2(m, Bytes{192, 168, 13, 38, 40, 1}, 1s));
  }
}

TEST_F(Cookies, ReplyMustMatchTheLastMac1Sent) {
  Bytes msg = message(148, 4);
  generator_.addMacs(msg, 0s);
  auto reply = checker_.createReply(msg, 7, src_, 0s, random_);
  Bytes later = message(148, 5);
  generator_.addMacs(later, 0s);  // a different mac1 was sent since
  EXPECT_FALSE(generator_.consumeReply(reply, 0s));
  CookieGenerator fresh;
  fresh.init(pub_);
  EXPECT_FALSE(fresh.consumeReply(reply, 0s));  // never sent anything
  auto tampered = checker_.createReply(later, 7, src_, 0s, random_);
  tampered.encryptedCookie[3] ^= 1;
  EXPECT_FALSE(generator_.consumeReply(tampered, 0s));
}

TEST_F(Cookies, SecretAndCookieExpireAfterTwoMinutes) {
  Bytes msg = message(148, 4);
  generator_.addMacs(msg, 0s);
  ASSERT_TRUE(generator_.consumeReply(checker_.createReply(msg, 7, src_, 0s, random_), 0s));
  generator_.addMacs(msg, 120s);
  EXPECT_TRUE(checker_.checkMac2(msg, src_, 120s));
  EXPECT_FALSE(checker_.checkMac2(msg, src_, 121s));  // the secret is stale
  EXPECT_TRUE(generator_.hasFreshCookie(120s));
  EXPECT_FALSE(generator_.hasFreshCookie(121s));
  Bytes zeroMac2 = message(148, 4);
  generator_.addMacs(zeroMac2, 121s);
  EXPECT_TRUE(std::all_of(zeroMac2.end() - 16, zeroMac2.end(), [](uint8_t b) { return b == 0; }));

  // A reply after rotation carries a cookie from the new secret; the old cookie no longer works.
  ASSERT_TRUE(generator_.consumeReply(checker_.createReply(zeroMac2, 7, src_, 200s, random_), 200s));
  Bytes m = message(148, 8);
  generator_.addMacs(m, 201s);
  EXPECT_TRUE(checker_.checkMac2(m, src_, 201s));
}

}  // namespace
}  // namespace tnet::wg
