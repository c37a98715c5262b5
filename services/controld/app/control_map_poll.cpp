// ControlClient's streaming map poll: opens /machine/map, feeds the stream to the frame reader,
// arms the silence watchdog, and redoes the poll with backoff when it fails or ends.
#include <algorithm>

#include "services/controld/app/control_client_impl.h"

namespace tnet::controld {

void ControlClient::Impl::startPoll() {
  stopPoll();
  pollWanted = true;
  pollNode = cfg->nodePublic;
  pollBackoff.reset();
  log::logger().info("map.poll.start node={}", pollNode.shortString());
  openPoll();
}

void ControlClient::Impl::stopPoll() {
  bool was = pollWanted || poll;
  pollWanted = false;
  ++pollSeq;
  pollRetry.reset();
  retirePoll();
  if (!was) return;
  status.mapConnected = false;
  if (status.phase == Phase::MAP_POLLING || status.phase == Phase::RECONNECTING) {
    status.phase = status.loggedInNodePublic.empty() ? Phase::IDLE : Phase::LOGGED_IN;
  }
  publishStatus();
}

void ControlClient::Impl::retirePoll() {
  if (!poll) return;
  retire(std::shared_ptr<Poll>(std::move(poll)));
}

void ControlClient::Impl::openPoll() {
  uint64_t id = ++pollSeq;
  std::weak_ptr<Impl> self = weak_from_this();
  withConnection([self, id](Result<net::Ts2021Client*> c) {
    auto s = self.lock();
    if (!s || id != s->pollSeq || !s->pollWanted) return;
    if (!c) return s->pollFailed(id, "map poll: " + c.error().message, false);
    s->sendPoll(id, **c);
  });
}

void ControlClient::Impl::sendPoll(uint64_t id, net::Ts2021Client& c) {
  retirePoll();
  poll = std::make_unique<Poll>(id, opts.maxMapFrame);
  net::H2Request req;
  req.path = "/machine/map";
  req.headers.emplace_back("ts-lb", cfg->nodePublic.toString());
  req.body = mapRequestJson(streamingMapRequest(baseMapRequest(), opts.compressZstd));
  std::weak_ptr<Impl> self = weak_from_this();
  armWatchdog(id);
  poll->stream = c.stream(
      std::move(req),
      [self, id](int httpStatus, const net::HeaderList&) {
        auto s = self.lock();
        if (s && s->poll && s->poll->id == id) s->poll->httpStatus = httpStatus;
      },
      [self, id](std::span<const uint8_t> data) {
        auto s = self.lock();
        if (s) s->onPollData(id, data);
      },
      [self, id](Result<void> end) {
        auto s = self.lock();
        if (s) s->onPollEnd(id, std::move(end));
      });
}

void ControlClient::Impl::armWatchdog(uint64_t id) {
  std::weak_ptr<Impl> self = weak_from_this();
  auto timeout = opts.mapSilenceTimeout;
  poll->watchdog = loop.after(timeout, [self, id, timeout] {
    auto s = self.lock();
    if (!s) return;
    s->pollFailed(id,
                  "map poll: no message from control for " +
                      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                      " ms",
                  true);
  });
}

void ControlClient::Impl::onPollData(uint64_t id, std::span<const uint8_t> data) {
  if (!poll || poll->id != id) return;
  if (poll->httpStatus != 200) {
    size_t room = MAX_ERROR_BODY - std::min(MAX_ERROR_BODY, poll->errorBody.size());
    poll->errorBody.append(reinterpret_cast<const char*>(data.data()), std::min(room, data.size()));
    return;
  }
  armWatchdog(id);
  if (auto fed = poll->reader.feed(ByteSpan(data.data(), data.size())); !fed) {
    return pollFailed(id, "map stream: " + fed.error().message, true);
  }
  while (poll && poll->id == id) {
    auto frame = poll->reader.next();
    if (!frame) break;
    if (auto handled = handleFrame(*frame); !handled) return pollFailed(id, handled.error().message, true);
  }
}

void ControlClient::Impl::onPollEnd(uint64_t id, Result<void> end) {
  if (!poll || poll->id != id) return;
  if (poll->httpStatus != 0 && poll->httpStatus != 200) {
    return pollFailed(id, httpError("map poll", poll->httpStatus, poll->errorBody), false);
  }
  if (!end) return pollFailed(id, "map stream: " + end.error().message, false);
  if (poll->reader.pending() > 0) {
    return pollFailed(
        id, "map stream ended inside a frame (" + std::to_string(poll->reader.pending()) + " bytes)", true);
  }
  pollFailed(id, "map stream ended by control", false);
}

void ControlClient::Impl::pollFailed(uint64_t id, const std::string& message, bool dropConnection) {
  if (id != pollSeq || !pollWanted) return;
  ++pollSeq;  // anything still in flight for this attempt is stale now
  warnNet("map.poll.failed", message);
  retirePoll();
  status.mapConnected = false;
  status.phase = Phase::RECONNECTING;
  status.lastError = message;
  // A dial failure already said "control unreachable"; keep that more useful line.
  if (health != ClientHealth::DEGRADED) setHealth(ClientHealth::DEGRADED, "map poll failing: " + message);
  publishStatus();
  if (dropConnection) dropClient();
  std::weak_ptr<Impl> self = weak_from_this();
  auto delay = pollBackoff.next();
  log::logger().debug("map.poll.retry in_ms={}", delay.count());
  pollRetry = loop.after(delay, [self] {
    auto s = self.lock();
    if (s && s->pollWanted) s->openPoll();
  });
}

}  // namespace tnet::controld
