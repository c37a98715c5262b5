#include "services/controld/core/map_frame.h"

#include <algorithm>

namespace tnet::controld {

Result<void> MapFrameReader::feed(ByteSpan data) {
  if (failed_) return *failed_;
  size_t off = 0;
  while (off < data.size()) {
    if (headerLen_ < 4) {
      size_t take = std::min(4 - headerLen_, data.size() - off);
      std::copy_n(data.begin() + static_cast<ptrdiff_t>(off), take, header_ + headerLen_);
      headerLen_ += take;
      off += take;
      if (headerLen_ < 4) break;
      frameLen_ = uint32_t(header_[0]) | uint32_t(header_[1]) << 8 | uint32_t(header_[2]) << 16 |
                  uint32_t(header_[3]) << 24;
      // Checked from the header alone: nothing of an oversized frame is ever buffered.
      if (frameLen_ == 0) {
        failed_ = Error::invalid("map frame of length 0");
      } else if (frameLen_ > maxFrame_) {
        failed_ = Error::invalid("map frame of " + std::to_string(frameLen_) +
                                 " bytes exceeds the limit of " + std::to_string(maxFrame_) +
                                 " bytes");
      }
      if (failed_) return *failed_;
      continue;
    }
    size_t take = std::min<size_t>(frameLen_ - payload_.size(), data.size() - off);
    payload_.insert(payload_.end(), data.begin() + static_cast<ptrdiff_t>(off),
                    data.begin() + static_cast<ptrdiff_t>(off + take));
    off += take;
    if (payload_.size() == frameLen_) {
      ready_.push_back(std::move(payload_));
      payload_ = Bytes();
      headerLen_ = 0;
    }
  }
  return {};
}

std::optional<Bytes> MapFrameReader::next() {
  if (ready_.empty()) return std::nullopt;
  Bytes out = std::move(ready_.front());
  ready_.pop_front();
  return out;
}

}  // namespace tnet::controld
