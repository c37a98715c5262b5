// One watch-ipn-bus client's stream, without I/O: which ipnd.notify events it gets, in what
// order, and when it is cut off. The app feeds it events (from the moment the watch starts, so
// none are lost while ipnd prepares the initial Notify) and drains it into the socket.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "services/apid/core/limits.h"

namespace tnet::apid {

class WatchSession {
 public:
  WatchSession(uint64_t mask, std::string version, size_t capacity = WATCHER_QUEUE_MESSAGES);

  // ipnd answered the watch request: `initialJson` (may be empty: no initial message for this
  // mask) reflects every event up to `notifySeq`; queued events at or below it are dropped.
  void start(std::string_view initialJson, uint64_t notifySeq);

  // An ipnd.notify event. Events at or below the start seq are ignored. A watcher whose queue is
  // full is cut off as Go does: its queue is replaced by one final error Notify and it ends.
  // ipnd numbers its Notify events 1, 2, 3, … without holes, so a jump means the bus lost some
  // (a ZeroMQ queue overflowed): the stream could no longer be trusted, and it is cut off the
  // same way rather than silently missing a state change.
  void onEvent(uint64_t seq, std::string_view json);

  // ipnd went away or restarted (new epoch): sequence numbers no longer line up, so the stream
  // ends after what is queued, as a Go client sees when tailscaled restarts.
  void end();

  // The next line to write (a Notify JSON object plus '\n'), if any.
  std::optional<std::string> next();

  bool started() const { return started_; }
  // No more lines will ever come: the app closes the stream once next() is empty.
  bool finished() const { return ended_ && queue_.empty(); }
  bool fellBehind() const { return fellBehind_; }
  size_t queued() const { return queue_.size(); }
  uint64_t mask() const { return mask_; }

 private:
  struct Pending {
    uint64_t seq;
    std::string json;
  };

  void enqueue(uint64_t seq, std::string line);
  void cutOff(uint64_t seq);

  uint64_t mask_;
  std::string version_;
  size_t capacity_;
  bool started_ = false;
  bool ended_ = false;
  bool fellBehind_ = false;
  uint64_t startSeq_ = 0;
  uint64_t lastSeq_ = 0;  // last event accepted into the stream (after start)
  std::deque<Pending> queue_;
};

}  // namespace tnet::apid
