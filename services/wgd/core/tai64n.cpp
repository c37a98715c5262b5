#include "services/wgd/core/tai64n.h"

#include <cstring>

#include "libs/base/bytes.h"

namespace tnet::wg {
namespace {
constexpr uint64_t TAI64_BASE = 0x400000000000000aULL;
constexpr uint32_t WHITENER_MASK = 0x1000000 - 1;
}  // namespace

Tai64n tai64nFromUnix(Duration unixTime) {
  const int64_t ns = unixTime.count();
  int64_t secs = ns / 1'000'000'000;
  int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {  // floor division, as Go's time.Unix() for times before 1970
    nanos += 1'000'000'000;
    --secs;
  }
  Tai64n t{};
  putU64BE(t.data(), TAI64_BASE + static_cast<uint64_t>(secs));
  putU32BE(t.data() + 8, static_cast<uint32_t>(nanos) & ~WHITENER_MASK);
  return t;
}

bool tai64nAfter(const Tai64n& a, const Tai64n& b) {
  return std::memcmp(a.data(), b.data(), a.size()) > 0;
}

}  // namespace tnet::wg
