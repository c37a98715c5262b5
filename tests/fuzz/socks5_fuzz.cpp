// libFuzzer: netstackd's SOCKS5 parsers (greeting, request, UDP datagram header). Invariants: no
// crash; consumed byte counts never exceed the input; an accepted request is a prefix property
// (feeding it byte by byte gives NEED_MORE until the same result); UDP headers round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "services/netstackd/core/socks5.h"

using namespace tnet::netstack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  auto g = socks5::parseGreeting(in);
  if (g.status == socks5::Status::OK && g.consumed > size) std::abort();
  auto r = socks5::parseRequest(in);
  if (r.status == socks5::Status::OK) {
    if (r.consumed > size) std::abort();
    for (size_t n = 0; n < r.consumed; ++n) {
      auto partial = socks5::parseRequest(in.first(n));
      if (partial.status == socks5::Status::OK) std::abort();
    }
    (void)r.target.toString();
  }
  auto h = socks5::parseUdpHeader(in);
  if (h.status == socks5::Status::OK) {
    if (h.headerLen > size) std::abort();
    if (!h.target.isDomain) {
      std::vector<uint8_t> again;
      socks5::appendUdpHeader(again, h.target.addr, h.target.port);
      auto back = socks5::parseUdpHeader(again);
      if (back.status != socks5::Status::OK || !(back.target.addr == h.target.addr) ||
          back.target.port != h.target.port)
        std::abort();
    }
  }
  return 0;
}
