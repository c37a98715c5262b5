// An incremental DERP frame reader over a byte stream (TCP/TLS/WebSocket bytes in whatever
// pieces they arrive). Frames wholly inside the caller's input come back pointing into it
// (zero-copy); a frame split across inputs is gathered in one buffer of exactly its length.
// Every frame length is checked against the role's limit from the 5-byte header, before any
// allocation, as Go does:
//   CLIENT (reads what a server sends): any frame over 1 MiB is an error (Go's Client.Recv).
//   SERVER (reads what a client sends): ClientInfo ≤ 256 KiB, Send/ForwardPacket ≤ keys + 64 KiB,
//     Ping ≤ 1000, NotePreferred ≤ 1, ClosePeer ≤ 32, WatchConns 0; any other type is discarded
//     as it streams past without being buffered, whatever its length (the Go server's loop).
// Errors are sticky: a DERP stream cannot be resynchronised, so the connection must close.
#pragma once

#include <optional>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/wire/derp.h"

namespace tnet::derp {

enum class ReaderRole { CLIENT, SERVER };

class FrameReader {
 public:
  explicit FrameReader(ReaderRole role) : role_(role) {}

  // Consumes bytes from the front of `input` (advancing it) and returns the next complete
  // frame, or nullopt once all of `input` is consumed without completing one. Call again with
  // the same (advanced) span until nullopt. A returned frame's payload is valid until the next
  // call or until the memory behind `input` is reused, whichever is first.
  Result<std::optional<Frame>> next(ByteSpan& input);

  // The largest payload accepted for `type` in this role; nullopt: discarded unread (SERVER).
  std::optional<uint32_t> maxLenFor(FrameType type) const;
  bool failed() const { return error_.has_value(); }
  size_t bufferedBytes() const { return headerHave_ + payloadHave_; }
  size_t bufferCapacity() const { return payload_.capacity(); }  // for tests and metrics

 private:
  ReaderRole role_;
  uint8_t header_[FRAME_HEADER_LEN] = {};
  size_t headerHave_ = 0;
  bool inPayload_ = false;
  FrameType type_{};
  uint32_t len_ = 0;
  Bytes payload_;
  size_t payloadHave_ = 0;
  uint64_t skipRemaining_ = 0;
  std::optional<Error> error_;
};

}  // namespace tnet::derp
