#include "libs/wire/stun.h"

#include <gtest/gtest.h>

#include <cstring>

#include "libs/crypto/crypto.h"
#include "libs/wire/derp_vectors_test.h"

namespace tnet::stun {
namespace {

TxId txRun() {  // 00..0b, the vectors' transaction ID
  TxId t;
  for (size_t i = 0; i < t.size(); ++i) t[i] = uint8_t(i);
  return t;
}

Bytes hex(const char* s) {
  return hexDecode(s).value();
}

TEST(StunKat, RequestMatchesVector) {
  TNET_LOAD_KAT_OR_SKIP(kat);
  auto req = bindingRequest(txRun());
  EXPECT_EQ(hexEncode(req), hexEncode(testvec::hexAfter(kat, "stun_raw", "request")));
  EXPECT_EQ(req.size(), REQUEST_LEN);
}

TEST(StunKat, ResponsesMatchVectorsBothWays) {
  TNET_LOAD_KAT_OR_SKIP(kat);
  Bytes v4 = testvec::hexAfter(kat, "stun_raw", "response 1.2.3.4:5678");
  Bytes v6 = testvec::hexAfter(kat, "stun_raw", "response [2001:db8::1]:5678");
  auto a4 = wire::IpPort::parse("1.2.3.4:5678").value();
  auto a6 = wire::IpPort::parse("[2001:db8::1]:5678").value();
  EXPECT_EQ(hexEncode(bindingResponse(txRun(), a4)), hexEncode(v4));
  EXPECT_EQ(hexEncode(bindingResponse(txRun(), a6)), hexEncode(v6));

  auto r4 = parseResponse(v4);
  ASSERT_TRUE(r4) << r4.error().message;
  EXPECT_EQ(r4->txId, txRun());
  EXPECT_EQ(r4->mapped.toString(), "1.2.3.4:5678");
  auto r6 = parseResponseFor(v6, txRun());
  ASSERT_TRUE(r6) << r6.error().message;
  EXPECT_EQ(r6->toString(), "[2001:db8::1]:5678");
}

TEST(Stun, ServerAcceptsTheVectorRequest) {
  TNET_LOAD_KAT_OR_SKIP(kat);
  auto tx = parseBindingRequest(testvec::hexAfter(kat, "stun_raw", "request"));
  ASSERT_TRUE(tx) << tx.error().message;
  EXPECT_EQ(*tx, txRun());
}

TEST(Stun, RequestRoundTripsWithRandomTxIds) {
  crypto::init();
  for (int i = 0; i < 64; ++i) {
    TxId tx = newTxId();
    auto req = bindingRequest(tx);
    auto got = parseBindingRequest(req);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, tx);
    // The attribute order derp/xdp relies on: SOFTWARE first, "tailnode" at 24..32.
    EXPECT_EQ(req[20], 0x80);
    EXPECT_EQ(req[21], 0x22);
    EXPECT_EQ(std::string(req.begin() + 24, req.begin() + 32), "tailnode");
  }
}

TEST(Stun, ServerRejectsNonTailscaleRequests) {
  auto req = bindingRequest(txRun());
  {
    auto bad = req;
    bad[39] ^= 1;  // fingerprint
    auto r = parseBindingRequest(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("fingerprint"), std::string::npos);
  }
  {
    auto bad = req;
    bad[24] = 'T';  // SOFTWARE "Tailnode"
    auto r = parseBindingRequest(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("non-Tailscale"), std::string::npos);
  }
  {
    Bytes noFp(req.begin(), req.begin() + 32);  // SOFTWARE only
    putU16BE(&noFp[2], 12);
    auto r = parseBindingRequest(noFp);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("didn't end in fingerprint"), std::string::npos);
  }
  {
    auto bad = req;
    bad[1] = 0x03;  // not Binding
    EXPECT_FALSE(parseBindingRequest(bad));
  }
  {
    auto bad = req;
    bad[5] = 0;  // magic cookie
    EXPECT_FALSE(parseBindingRequest(bad));
  }
  {
    Bytes truncated(req.begin(), req.begin() + 38);  // attribute runs past the end
    EXPECT_FALSE(parseBindingRequest(truncated));
  }
}

// Real server responses captured by Tailscale's net/stun tests (stun_test.go responseTests).
struct Captured {
  const char* name;
  const char* hex;
  const char* want;
};
const Captured CAPTURED[] = {
    {"google-1",
     "0101000c2112a4422360b11e3ec68ffa93e0800700200008"
     "0001c7866957856f",
     "72.69.33.45:59028"},
    {"google-2",
     "0101000c2112a442f9f121cbde7d7c75923ce27100200008"
     "0001c7876957856f",
     "72.69.33.45:59029"},
    {"stun-sipgate-net-10000",
     "010100442112a442482eb64715e8b28eaead644400010008"
     "0001e4ab4845212d000400080001"
     "2710d90a4498000500080001"
     "2711d9747a8a802000080001c5b96957856f80220010566f766964612e6f726720302e393600",
     "72.69.33.45:58539"},
    {"stun-powervoip-com-3478",
     "010100242112a4427e57966829f444609d1deaa600010008"
     "0001e9d34845212d00040008"
     "00010d964d48a9d400050008"
     "00010d974d48a9d5",
     "72.69.33.45:59859"},
    {"in-process-pion-server",
     "010100242112a442ebc2d36ef471217c4f3e308e8022000a"
     "656e64706f696e7465720000"
     "002000080001ce665e12a443"
     "80280004b699bb02010100242112a442",
     "127.0.0.1:61300"},
    {"stuntman-server-ipv6",
     "010100482112a44206f56685d28af3e69ce341e200010014"
     "000290ce260200d1b4cfc10038b231fffeef96f6802b0014"
     "00020d962604a880000200d10000000000c57001"
     "00200014"
     "0002b1dc0710a493b23aa785ea38c219620cd714",
     "[2602:d1:b4cf:c100:38b2:31ff:feef:96f6]:37070"},
    {"software-a",
     "010100142112a442ebc2d36ef471217c4f3e308e80220001"
     "61000000002000080001ce665e12a443",
     "127.0.0.1:61300"},
    {"software-abc",
     "010100142112a442ebc2d36ef471217c4f3e308e80220003"
     "61626300002000080001ce665e12a443",
     "127.0.0.1:61300"},
    {"no-4in6", "010100182112a4424fd5d202dcb37d31fc773306002000140002cd3d2112a4424fd5d202dcb382ce2dc3fcc7",
     "209.180.207.193:60463"},
};

TEST(Stun, ParsesCapturedServerResponsesAsGo) {
  for (const auto& c : CAPTURED) {
    Bytes b = hex(c.hex);
    auto r = parseResponse(b);
    ASSERT_TRUE(r) << c.name << ": " << r.error().message;
    EXPECT_EQ(r->mapped.toString(), c.want) << c.name;
    EXPECT_EQ(hexEncode(ByteSpan(r->txId)), hexEncode(ByteSpan(b).subspan(8, 12))) << c.name;
  }
}

TEST(Stun, IsMatchesGo) {
  auto mk = [](uint8_t first, size_t tail) {
    Bytes b(8 + tail, 0);
    b[0] = first;
    std::memcpy(b.data() + 4, MAGIC_COOKIE, 4);
    return b;
  };
  EXPECT_FALSE(isStun(Bytes{}));
  EXPECT_FALSE(isStun(Bytes(20, 0)));
  EXPECT_FALSE(isStun(mk(0, 11)));  // 19 bytes
  EXPECT_TRUE(isStun(mk(0, 12)));
  EXPECT_TRUE(isStun(mk(0, 15)));
  EXPECT_FALSE(isStun(mk(0xf0, 12)));
  EXPECT_FALSE(isStun(mk(0x40, 12)));
  EXPECT_TRUE(isStun(mk(0x20, 12)));
}

TEST(Stun, ResponseWriterRoundTrips) {
  crypto::init();
  const char* addrs[] = {"1.2.3.4:254", "1.2.3.4:257", "[1::4]:254",
                         "[1::4]:257",  "0.0.0.0:0",   "[ffff::ffff]:65535"};
  for (const char* a : addrs) {
    TxId tx = newTxId();
    auto ipp = wire::IpPort::parse(a).value();
    Bytes res = bindingResponse(tx, ipp);
    EXPECT_EQ(res.size(), ipp.is4() ? 32u : 44u);
    auto got = parseResponseFor(res, tx);
    ASSERT_TRUE(got) << a << ": " << got.error().message;
    EXPECT_EQ(*got, ipp) << a;
  }
}

TEST(Stun, MappedAddressIsOnlyAFallback) {
  // MAPPED-ADDRESS 9.8.7.6:1000 alone.
  Bytes mapped =
      hex("0101000c2112a442000102030405060708090a0b"
          "00010008000103e809080706");
  auto r = parseResponse(mapped);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mapped.toString(), "9.8.7.6:1000");
  // MAPPED-ADDRESS then XOR-MAPPED-ADDRESS (1.2.3.4:5678): XOR wins whatever the order.
  Bytes both =
      hex("010100182112a442000102030405060708090a0b"
          "00010008000103e809080706"
          "002000080001373c2010a746");
  r = parseResponse(both);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mapped.toString(), "1.2.3.4:5678");
  // The non-standard 0x8020 type is accepted as XOR-MAPPED-ADDRESS.
  Bytes alt =
      hex("0101000c2112a442000102030405060708090a0b"
          "802000080001373c2010a746");
  r = parseResponse(alt);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mapped.toString(), "1.2.3.4:5678");
}

TEST(Stun, RejectsMalformedResponses) {
  const Bytes good = hex("0101000c2112a442000102030405060708090a0b002000080001373c2010a746");
  auto expectBad = [](const Bytes& b, const char* why, const char* what) {
    auto r = parseResponse(b);
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().kind, ErrorKind::INVALID);
    EXPECT_NE(r.error().message.find(what), std::string::npos) << why << ": " << r.error().message;
  };
  {
    Bytes b = good;
    b[4] = 0x22;
    expectBad(b, "bad magic cookie", "not a STUN packet");
  }
  {
    Bytes b = good;
    b[1] = 0x11;  // error response
    expectBad(b, "not success", "not a response");
  }
  {
    Bytes b = good;
    b[3] = 0x10;  // attributes claim 16 bytes, 12 present
    expectBad(b, "attrs longer than packet", "malformed");
  }
  {
    Bytes b = good;
    b[23] = 0x0c;  // XOR-MAPPED-ADDRESS claims 12 bytes inside a 12-byte attrs area
    expectBad(b, "attribute past the end", "malformed");
  }
  {
    Bytes b = good;
    b[25] = 0x03;  // family 3
    expectBad(b, "bad family", "malformed");
  }
  {
    Bytes b = good;
    b[25] = 0x02;  // IPv6 family but 4 address bytes
    expectBad(b, "short IPv6 address", "malformed");
  }
  {
    Bytes b(good.begin(), good.begin() + 20);
    b[3] = 0;
    expectBad(b, "no attributes", "no mapped address");
  }
  {
    Bytes b =
        hex("010100082112a442000102030405060708090a0b"
            "8022000474657374");  // SOFTWARE only
    expectBad(b, "no address attribute", "no mapped address");
  }
  {
    Bytes b =
        hex("010100022112a442000102030405060708090a0b"
            "0020");  // 2-byte attribute header
    expectBad(b, "truncated attribute header", "malformed");
  }
  EXPECT_FALSE(parseResponse(Bytes(good.begin(), good.begin() + 19)));
  TxId other = txRun();
  other[11] ^= 0xff;
  auto mismatch = parseResponseFor(good, other);
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("transaction ID mismatch"), std::string::npos);
}

TEST(Stun, TrailingBytesAfterAttributesAreIgnored) {
  Bytes b = hex("0101000c2112a442000102030405060708090a0b002000080001373c2010a746deadbeef01");
  auto r = parseResponse(b);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mapped.toString(), "1.2.3.4:5678");
}

TEST(Stun, FingerprintIsCrc32XorStun) {
  // CRC-32/IEEE("123456789") = cbf43926, the standard check value.
  const std::string s = "123456789";
  EXPECT_EQ(fingerprint(ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size())),
            0xcbf43926u ^ FINGERPRINT_XOR);
}

}  // namespace
}  // namespace tnet::stun
