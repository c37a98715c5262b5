#include "services/wgd/core/replay.h"

namespace tnet::wg {

void ReplayFilter::reset() {
  last_ = 0;
  ring_[0] = 0;  // the other blocks are cleared as the window moves over them
}

bool ReplayFilter::validateCounter(uint64_t counter, uint64_t limit) {
  if (counter >= limit) return false;
  uint64_t indexBlock = counter >> BLOCK_BIT_LOG;
  if (counter > last_) {
    const uint64_t current = last_ >> BLOCK_BIT_LOG;
    uint64_t diff = indexBlock - current;
    if (diff > RING_BLOCKS) diff = RING_BLOCKS;  // clearing the whole ring is enough
    for (uint64_t i = current + 1; i <= current + diff; ++i) ring_[i & BLOCK_MASK] = 0;
    last_ = counter;
  } else if (last_ - counter > WINDOW_SIZE) {
    return false;  // behind the window
  }
  indexBlock &= BLOCK_MASK;
  const uint64_t bit = uint64_t(1) << (counter & BIT_MASK);
  const uint64_t old = ring_[indexBlock];
  ring_[indexBlock] = old | bit;
  return (old & bit) == 0;
}

}  // namespace tnet::wg
