// The DERP ClientInfo seal: the known-answer frame from dataplane.md §F.2, a box the server can
// open (JSON and sender), and refusal of zero, low-order and short server keys.
#include "services/wgd/app/derp_client_info.h"

#include <gtest/gtest.h>

#include "libs/wire/keys.h"

namespace tnet::wgd {
namespace {

crypto::Key32 filled(uint8_t b) {
  crypto::Key32 k;
  k.fill(b);
  return k;
}

TEST(DerpClientInfo, MatchesTheKnownAnswerFrame) {
  crypto::init();
  // Server priv 01×32, client priv 02×32, nonce 00..17 (tailscale-dataplane-kat / dataplane.md).
  auto serverPriv = crypto::PrivateKey::fromSpan(filled(1));
  auto node = crypto::PrivateKey::fromSpan(filled(2));
  std::array<uint8_t, 24> nonce;
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = uint8_t(i);
  auto frame = sealDerpClientInfoWithNonce(node, serverPriv.publicKey(), nonce);
  ASSERT_TRUE(frame) << frame.error().message;
  EXPECT_EQ(
      hexEncode(*frame),
      "ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59"
      "000102030405060708090a0b0c0d0e0f1011121314151617"
      "3886897e2cda6c0d8dc4ad5c4b74ca7f99edf5a6e8428f59d77442f5e0be4499b5921f8df3dea51572626156526589c1");
}

TEST(DerpClientInfo, ServerOpensTheBoxAndSeesTheNodeKey) {
  crypto::init();
  auto serverPriv = crypto::PrivateKey::generate();
  auto node = crypto::PrivateKey::generate();
  auto frame = sealDerpClientInfo(node, serverPriv.publicKey());
  ASSERT_TRUE(frame);
  ASSERT_GT(frame->size(), 56u);
  crypto::Key32 sender;
  std::copy_n(frame->begin(), 32, sender.begin());
  EXPECT_EQ(sender, node.publicKey());
  std::array<uint8_t, 24> nonce;
  std::copy_n(frame->begin() + 32, 24, nonce.begin());
  Bytes plain(frame->size() - 56 - crypto::BOX_OVERHEAD);
  ASSERT_TRUE(crypto::boxOpen(plain, ByteSpan(*frame).subspan(56), nonce, sender, serverPriv.raw()));
  EXPECT_EQ(std::string(plain.begin(), plain.end()), R"({"version":2,"CanAckPings":true})");
  // Nonces are fresh per call.
  auto again = sealDerpClientInfo(node, serverPriv.publicKey());
  EXPECT_NE(hexEncode(ByteSpan(*again).subspan(32, 24)), hexEncode(ByteSpan(*frame).subspan(32, 24)));
}

TEST(DerpClientInfo, RefusesBadServerKeys) {
  crypto::init();
  auto node = crypto::PrivateKey::generate();
  auto zero = sealDerpClientInfo(node, crypto::Key32{});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().kind, ErrorKind::INVALID);
  // Low-order points of Curve25519 (the shared secret would be zero): 1 and the order-8 point.
  crypto::Key32 one{};
  one[0] = 1;
  auto order8 = *hexDecode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800");
  for (ByteSpan bad : {ByteSpan(one), ByteSpan(order8)}) {
    auto r = sealDerpClientInfo(node, bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::INVALID);
  }
  auto shortKey = sealDerpClientInfo(node, Bytes(31, 7));
  ASSERT_FALSE(shortKey);
  EXPECT_EQ(shortKey.error().kind, ErrorKind::INVALID);
  // No node key yet.
  auto none = sealDerpClientInfo(crypto::PrivateKey(), crypto::PrivateKey::generate().publicKey());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::FAILED);
}

}  // namespace
}  // namespace tnet::wgd
