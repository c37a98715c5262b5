// libFuzzer: controld's map stream path as the app runs it on bytes from control — the
// u32-LE framing reader fed in input-chosen chunk sizes, each frame decoded as a MapResponse
// and folded into a MapSession. (zstd decompression is not in the fuzz build: no libzstd.)
// Invariants: no crash; buffered bytes never exceed one header + one frame under the limit;
// the netmap's peers stay sorted by unique ID and the generation never goes backwards.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "services/controld/core/map_decode.h"
#include "services/controld/core/map_frame.h"
#include "services/controld/core/netmap.h"

using namespace tnet;
using namespace tnet::controld;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}

void checkMap(const MapSession& s, uint64_t& lastGen) {
  const NetworkMap* nm = s.netmap();
  if (!nm) return;
  check(nm->generation >= lastGen);
  lastGen = nm->generation;
  for (size_t i = 1; i < nm->peers.size(); ++i) check(nm->peers[i - 1].id < nm->peers[i].id);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  constexpr size_t LIMIT = 1 << 16;
  const size_t chunk = 1 + data[0] % 64;  // 1..64-byte reads, like a trickling h2 stream
  ByteSpan rest(data + 1, size - 1);
  MapFrameReader reader(LIMIT);
  MapSession session;
  uint64_t gen = 0;
  int64_t now = 1000;
  while (!rest.empty()) {
    size_t n = std::min(chunk, rest.size());
    auto fed = reader.feed(rest.first(n));
    rest = rest.subspan(n);
    check(reader.pending() <= 4 + LIMIT);
    if (!fed) {
      check(!reader.feed(rest));  // stays failed
      break;
    }
    while (auto frame = reader.next()) {
      check(!frame->empty() && frame->size() <= LIMIT);
      auto resp = decodeMapResponse(
          std::string_view(reinterpret_cast<const char*>(frame->data()), frame->size()));
      if (!resp) continue;
      (void)session.apply(std::move(*resp), ++now);
      checkMap(session, gen);
    }
  }
  return 0;
}
