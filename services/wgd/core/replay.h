// The anti-replay window of RFC 6479 as wireguard-go's replay/replay.go implements it: a ring of
// 128 blocks of 64 bits, so the window covers (128 - 1) * 64 = 8128 counters behind the highest
// one seen (the Linux kernel's size). Moving forward clears only the blocks that are skipped.
#pragma once

#include <array>
#include <cstdint>

namespace tnet::wg {

class ReplayFilter {
 public:
  static constexpr uint64_t BLOCK_BIT_LOG = 6;
  static constexpr uint64_t BLOCK_BITS = uint64_t(1) << BLOCK_BIT_LOG;
  static constexpr uint64_t RING_BLOCKS = uint64_t(1) << 7;
  static constexpr uint64_t WINDOW_SIZE = (RING_BLOCKS - 1) * BLOCK_BITS;

  void reset();
  // True when `counter` is new and inside the window (and marks it seen); counters >= limit are
  // always rejected.
  bool validateCounter(uint64_t counter, uint64_t limit);

 private:
  static constexpr uint64_t BLOCK_MASK = RING_BLOCKS - 1;
  static constexpr uint64_t BIT_MASK = BLOCK_BITS - 1;
  uint64_t last_ = 0;
  std::array<uint64_t, RING_BLOCKS> ring_{};
};

}  // namespace tnet::wg
