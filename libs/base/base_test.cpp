#include <gtest/gtest.h>
#include <unistd.h>

#include "libs/base/bytes.h"
#include "libs/base/fd_read.h"
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

TEST(ReadFdToEnd, ReadsEverythingUpToTheLimit) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  std::string big(20000, 'x');
  big[19999] = 'y';
  ASSERT_EQ(::write(p[1], big.data(), big.size()), ssize_t(big.size()));
  ::close(p[1]);
  auto got = readFdToEnd(p[0], big.size());
  ::close(p[0]);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, big);
}

TEST(ReadFdToEnd, MoreThanTheLimitIsInvalidAndABadFdFails) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "12345", 5), 5);
  ::close(p[1]);
  auto got = readFdToEnd(p[0], 4);
  ::close(p[0]);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().kind, ErrorKind::INVALID);
  EXPECT_EQ(got.error().message, "more than 4 bytes");
  auto bad = readFdToEnd(-1, 4);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().kind, ErrorKind::FAILED);
}

}  // namespace
}  // namespace tnet
