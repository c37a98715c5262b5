// libFuzzer: quad-100's DNS query parser and answerer. Invariants: no crash; a response is empty
// only for input shorter than a header or a response; otherwise it has the query's id, QR set, and
// stays within the 4095-byte cap.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "libs/base/bytes.h"
#include "services/netstackd/core/dns.h"

using namespace tnet::netstack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dns::NameTable table = [] {
    dns::NameTable t;
    Addr v6;
    v6.v6 = true;
    v6.bytes[0] = 0xfd;
    v6.bytes[15] = 2;
    t.add("peer.tail.ts.net.", {Addr::v4(100, 64, 0, 2), v6}, "tail.ts.net");
    return t;
  }();
  std::span<const uint8_t> in(data, size);
  auto resp = dns::answer(in, table);
  if (resp.empty()) {
    if (size >= 12 && !(data[2] & 0x80)) std::abort();
    return 0;
  }
  if (resp.size() < 12 || resp.size() > dns::MAX_RESPONSE) std::abort();
  if (tnet::getU16BE(&resp[0]) != tnet::getU16BE(data) || !(resp[2] & 0x80)) std::abort();
  return 0;
}
