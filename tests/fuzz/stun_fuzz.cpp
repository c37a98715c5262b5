// Fuzzes the STUN codec as netcheck (client: parseResponse on whatever arrives on the
// WireGuard socket) and the test DERP server's STUN responder (parseBindingRequest) use it.
#include <cstddef>
#include <cstdint>

#include "libs/wire/stun.h"

using namespace tnet;
using namespace tnet::stun;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteSpan in(data, size);
  const bool is = isStun(in);
  if (auto r = parseResponse(in)) {
    FUZZ_CHECK(is);
    // What we parsed, our own writer must reproduce and parse back identically.
    Bytes res = bindingResponse(r->txId, r->mapped);
    auto again = parseResponseFor(res, r->txId);
    FUZZ_CHECK(again && *again == r->mapped);
    (void)r->mapped.toString();
  }
  if (auto tx = parseBindingRequest(in)) {
    FUZZ_CHECK(is);
    auto req = bindingRequest(*tx);
    auto again = parseBindingRequest(req);
    FUZZ_CHECK(again && *again == *tx);
  }
  return 0;
}
