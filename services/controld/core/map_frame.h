// The /machine/map response stream: repeated [u32 little-endian length N][N bytes payload].
// The reader is incremental (feed whatever the h2 stream delivered) and refuses a frame larger
// than its limit from the 4-byte header alone, before buffering any of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "libs/base/bytes.h"
#include "libs/base/result.h"

namespace tnet::controld {

// Production tailnets of tens of thousands of nodes stay well below this; testcontrol's own
// sending limit is 256 MiB, tsp's reading limit 4 MiB (compressed).
inline constexpr size_t DEFAULT_MAX_MAP_FRAME = 64u << 20;

class MapFrameReader {
 public:
  explicit MapFrameReader(size_t maxFrame = DEFAULT_MAX_MAP_FRAME) : maxFrame_(maxFrame) {}

  // Appends received bytes. Fails (and stays failed) on a zero-length or oversized frame header.
  Result<void> feed(ByteSpan data);
  // The next complete payload, if one is buffered.
  std::optional<Bytes> next();
  // Bytes buffered toward an incomplete frame (for end-of-stream diagnostics).
  size_t pending() const { return headerLen_ + payload_.size(); }

 private:
  size_t maxFrame_;
  uint8_t header_[4] = {};
  size_t headerLen_ = 0;
  uint32_t frameLen_ = 0;
  Bytes payload_;
  std::deque<Bytes> ready_;
  std::optional<Error> failed_;
};

}  // namespace tnet::controld
