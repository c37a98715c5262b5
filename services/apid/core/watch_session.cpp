#include "services/apid/core/watch_session.h"

#include "services/apid/core/notify_filter.h"

namespace tnet::apid {

WatchSession::WatchSession(uint64_t mask, std::string version, size_t capacity)
    : mask_(mask), version_(std::move(version)), capacity_(capacity) {}

void WatchSession::start(std::string_view initialJson, uint64_t notifySeq) {
  if (started_ || ended_) return;
  started_ = true;
  startSeq_ = notifySeq;
  lastSeq_ = notifySeq;
  std::deque<Pending> later;
  for (Pending& p : queue_) {
    if (p.seq <= notifySeq) continue;
    if (p.seq != lastSeq_ + 1) {
      queue_.clear();
      cutOff(p.seq);
      return;
    }
    lastSeq_ = p.seq;
    later.push_back(std::move(p));
  }
  queue_ = std::move(later);
  if (!initialJson.empty()) {
    std::string line(initialJson);
    if (line.back() != '\n') line.push_back('\n');
    // The initial Notify is always first and does not count against the queue (Go sends it
    // before the watcher's channel is read).
    queue_.push_front({notifySeq, std::move(line)});
  }
}

void WatchSession::onEvent(uint64_t seq, std::string_view json) {
  if (ended_) return;
  if (started_) {
    if (seq <= lastSeq_) return;  // already covered by the initial Notify, or a duplicate
    if (seq != lastSeq_ + 1) return cutOff(seq);
    lastSeq_ = seq;
  }
  auto shaped = notifyForMask(json, mask_);
  if (!shaped) return;  // not a JSON object: ipnd's bug, never forwarded to a client
  std::string line = std::move(*shaped);
  line.push_back('\n');
  enqueue(seq, std::move(line));
}

void WatchSession::enqueue(uint64_t seq, std::string line) {
  if (queue_.size() >= capacity_) return cutOff(seq);
  queue_.push_back({seq, std::move(line)});
}

void WatchSession::cutOff(uint64_t seq) {
  // Go: the queued delta stream is no longer trustworthy; drop it and send one final error.
  queue_.clear();
  queue_.push_back({seq, errorNotifyJson(version_, FELL_BEHIND_MESSAGE) + "\n"});
  fellBehind_ = true;
  ended_ = true;
}

void WatchSession::end() {
  ended_ = true;
}

std::optional<std::string> WatchSession::next() {
  // Before ipnd's answer nothing may go out: the initial Notify must be first.
  if (!started_ && !ended_) return std::nullopt;
  if (!started_ && ended_ && !fellBehind_) {
    queue_.clear();
    return std::nullopt;
  }
  if (queue_.empty()) return std::nullopt;
  std::string line = std::move(queue_.front().json);
  queue_.pop_front();
  return line;
}

}  // namespace tnet::apid
