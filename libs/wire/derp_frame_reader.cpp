#include "libs/wire/derp_frame_reader.h"

#include <algorithm>
#include <cstring>

namespace tnet::derp {

std::optional<uint32_t> FrameReader::maxLenFor(FrameType type) const {
  if (role_ == ReaderRole::CLIENT) return CLIENT_MAX_FRAME_LEN;
  switch (type) {
    case FrameType::CLIENT_INFO:
      return SERVER_MAX_CLIENT_INFO_LEN;
    case FrameType::SEND_PACKET:
      return uint32_t(KEY_LEN + MAX_PACKET_SIZE);
    case FrameType::FORWARD_PACKET:
      return uint32_t(2 * KEY_LEN + MAX_PACKET_SIZE);
    case FrameType::PING:
      return SERVER_MAX_PING_LEN;
    case FrameType::NOTE_PREFERRED:
      return 1;
    case FrameType::CLOSE_PEER:
      return uint32_t(KEY_LEN);
    case FrameType::WATCH_CONNS:
      return 0;
    default:
      return std::nullopt;
  }
}

Result<std::optional<Frame>> FrameReader::next(ByteSpan& input) {
  if (error_) return *error_;
  for (;;) {
    if (skipRemaining_ > 0) {
      size_t n = size_t(std::min<uint64_t>(skipRemaining_, input.size()));
      input = input.subspan(n);
      skipRemaining_ -= n;
      if (skipRemaining_ > 0) return std::optional<Frame>();
    }

    if (!inPayload_) {
      size_t want = FRAME_HEADER_LEN - headerHave_;
      size_t n = std::min(want, input.size());
      if (n) std::memcpy(header_ + headerHave_, input.data(), n);
      headerHave_ += n;
      input = input.subspan(n);
      if (headerHave_ < FRAME_HEADER_LEN) return std::optional<Frame>();
      headerHave_ = 0;
      type_ = FrameType(header_[0]);
      len_ = getU32BE(header_ + 1);

      auto max = maxLenFor(type_);
      if (!max) {  // SERVER role, a type the Go server ignores: drop it as it streams by
        skipRemaining_ = len_;
        continue;
      }
      if (len_ > *max) {
        error_ = Error::invalid(std::string("derp: ") + frameTypeName(type_) + " frame (type 0x" +
                                hexEncode(ByteSpan(header_, 1)) + ") of " + std::to_string(len_) +
                                " bytes exceeds the limit of " + std::to_string(*max));
        return *error_;
      }
      inPayload_ = true;
      payloadHave_ = 0;
    }

    if (payloadHave_ == 0 && input.size() >= len_) {  // whole payload in the caller's bytes
      Frame f{type_, input.first(len_)};
      input = input.subspan(len_);
      inPayload_ = false;
      return std::optional<Frame>(f);
    }
    if (payloadHave_ == 0) {
      // A big frame once should not pin its buffer forever.
      if (payload_.capacity() > (256u << 10) && len_ <= (64u << 10)) Bytes().swap(payload_);
      payload_.clear();
      // Grow with the bytes that actually arrive, not with the length the peer claims: a header
      // promising 1 MiB costs nothing until the megabyte is sent. len_ ≤ the role's limit.
      payload_.reserve(std::min<size_t>(len_, 16u << 10));
    }
    size_t n = std::min<size_t>(len_ - payloadHave_, input.size());
    payload_.insert(payload_.end(), input.begin(), input.begin() + ptrdiff_t(n));
    payloadHave_ += n;
    input = input.subspan(n);
    if (payloadHave_ < len_) return std::optional<Frame>();
    payloadHave_ = 0;
    inPayload_ = false;
    return std::optional<Frame>(Frame{type_, ByteSpan(payload_.data(), len_)});
  }
}

}  // namespace tnet::derp
