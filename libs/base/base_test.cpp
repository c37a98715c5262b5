#include <gtest/gtest.h>

#include "libs/base/bytes.h"
#include "libs/base/result.h"

namespace tnet {
namespace {

Result<int> parsePositive(int v) {
  if (v <= 0) return Unexpected(Error::invalid("not positive"));
  return v;
}

Result<int> doubled(int v) {
  TNET_TRY(int x, parsePositive(v));
  return 2 * x;
}

TEST(Result, CarriesValueOrError) {
  auto ok = doubled(4);
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, 8);
  auto bad = doubled(-1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::INVALID);
  EXPECT_EQ(bad.error().message, "not positive");
  EXPECT_EQ(errorKindName(bad.error().kind), "invalid");
}

TEST(Bytes, HexRoundTripAndRejects) {
  Bytes b{0x00, 0xab, 0xff};
  EXPECT_EQ(hexEncode(b), "00abff");
  EXPECT_EQ(*hexDecode("00ABff"), b);
  EXPECT_FALSE(hexDecode("abc"));
  EXPECT_FALSE(hexDecode("zz"));
}

TEST(Bytes, Endianness) {
  uint8_t buf[8];
  putU32BE(buf, 0x01020304);
  EXPECT_EQ(buf[0], 1);
  EXPECT_EQ(getU32BE(buf), 0x01020304u);
  putU64LE(buf, 0x0102030405060708ull);
  EXPECT_EQ(buf[0], 8);
  EXPECT_EQ(getU64LE(buf), 0x0102030405060708ull);
}

}  // namespace
}  // namespace tnet
