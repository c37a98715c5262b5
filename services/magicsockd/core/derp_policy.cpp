#include "services/magicsockd/core/derp_policy.h"

#include <cassert>

#include "services/magicsockd/core/constants.h"

namespace tnet::magicsock {

ReconnectBackoff::ReconnectBackoff(std::function<double()> uniform01, Duration maxBackoff)
    : uniform01_(std::move(uniform01)), max_(maxBackoff) {
  assert(uniform01_);
}

Duration ReconnectBackoff::nextDelay() {
  if (failures_ < 1000) failures_++;  // the cap is reached long before; avoid overflow
  Duration d = static_cast<int64_t>(failures_) * failures_ * BACKOFF_UNIT;
  if (d > max_) d = max_;
  double factor = uniform01_() + 0.5;
  return Duration(static_cast<int64_t>(static_cast<double>(d.count()) * factor));
}

int chooseHomeRegion(int preferredDerp, int currentHome, bool controlReachable, const DerpMap& dm,
                     const std::function<size_t(size_t)>& randomIndex) {
  if (!controlReachable && currentHome != 0) return currentHome;
  if (preferredDerp != 0 && dm.regions.count(preferredDerp) != 0) return preferredDerp;
  if (currentHome != 0 && dm.regions.count(currentHome) != 0) return currentHome;
  std::vector<int> ids;
  for (const auto& [id, r] : dm.regions) {
    if (!r.noMeasureNoHome && !r.nodes.empty()) ids.push_back(id);
  }
  if (ids.empty()) return 0;
  size_t i = randomIndex(ids.size());
  assert(i < ids.size());
  return ids[i];
}

DerpConnectionPolicy::DerpConnectionPolicy(std::function<double()> uniform01)
    : uniform01_(std::move(uniform01)) {
  assert(uniform01_);
}

DerpConnectionPolicy::Conn& DerpConnectionPolicy::connect(MonoTime now, int region,
                                                          std::vector<DerpAction>& out) {
  auto it = conns_.find(region);
  if (it == conns_.end()) {
    it = conns_
             .emplace(region, Conn{State::CONNECTING, now, now, NEVER,
                                   ReconnectBackoff(uniform01_, DERP_RECONNECT_MAX_BACKOFF)})
             .first;
    out.push_back(ConnectRegion{region});
  } else if (it->second.state == State::WAITING && region != home_) {
    // A write to a dropped non-home region reconnects at once unless a backoff is pending.
    if (it->second.retryAt == NEVER || it->second.retryAt <= now) {
      it->second.state = State::CONNECTING;
      it->second.retryAt = NEVER;
      out.push_back(ConnectRegion{region});
    }
  }
  if (nextCleanAt_ == NEVER) nextCleanAt_ = now + DERP_CLEAN_STALE_INTERVAL;
  return it->second;
}

void DerpConnectionPolicy::setHome(MonoTime now, int region, std::vector<DerpAction>& out) {
  if (region == home_) return;
  home_ = region;
  if (region != 0) {
    Conn& c = connect(now, region, out);
    c.lastWrite = now;
  }
  for (const auto& [id, c] : conns_) {
    if (c.state == State::CONNECTED) out.push_back(SendNotePreferred{id, id == home_});
  }
}

void DerpConnectionPolicy::noteWrite(MonoTime now, int region, std::vector<DerpAction>& out) {
  Conn& c = connect(now, region, out);
  c.lastWrite = now;
}

void DerpConnectionPolicy::noteRead(MonoTime now, int region) {
  auto it = conns_.find(region);
  if (it != conns_.end()) it->second.lastRead = now;
}

void DerpConnectionPolicy::noteConnected(MonoTime now, int region, std::vector<DerpAction>& out) {
  auto it = conns_.find(region);
  if (it == conns_.end()) return;
  it->second.state = State::CONNECTED;
  it->second.lastRead = now;
  it->second.retryAt = NEVER;
  it->second.backoff.reset();
  // Only the home connection is told it is preferred; a fresh connection starts non-preferred.
  if (region == home_) out.push_back(SendNotePreferred{region, true});
}

void DerpConnectionPolicy::noteDisconnected(MonoTime now, int region) {
  auto it = conns_.find(region);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  c.state = State::WAITING;
  c.retryAt = now + c.backoff.nextDelay();
}

MonoTime DerpConnectionPolicy::tick(MonoTime now, std::vector<DerpAction>& out) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    int id = it->first;
    Conn& c = it->second;
    if (c.state == State::CONNECTED && now - c.lastRead >= DERP_CLIENT_READ_TIMEOUT) {
      // The server sends KeepAlive every 60 s: two missed means the connection is dead.
      out.push_back(CloseRegion{id, "read-timeout"});
      c.state = State::WAITING;
      c.retryAt = now + c.backoff.nextDelay();
    }
    if (c.state == State::WAITING && id == home_ && c.retryAt <= now) {
      c.state = State::CONNECTING;
      c.retryAt = NEVER;
      out.push_back(ConnectRegion{id});
    }
    ++it;
  }
  if (nextCleanAt_ <= now) {
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->first != home_ && now - it->second.lastWrite > DERP_INACTIVE_CLEANUP_TIME) {
        if (it->second.state != State::WAITING) out.push_back(CloseRegion{it->first, "idle"});
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
    nextCleanAt_ = conns_.size() > (conns_.count(home_) ? 1u : 0u) ? now + DERP_CLEAN_STALE_INTERVAL : NEVER;
  }
  return nextDeadline();
}

MonoTime DerpConnectionPolicy::nextDeadline() const {
  MonoTime next = nextCleanAt_;
  for (const auto& [id, c] : conns_) {
    if (c.state == State::CONNECTED) next = earliest(next, c.lastRead + DERP_CLIENT_READ_TIMEOUT);
    if (c.state == State::WAITING && id == home_) next = earliest(next, c.retryAt);
  }
  return next;
}

bool DerpConnectionPolicy::isOpen(int region) const {
  auto it = conns_.find(region);
  return it != conns_.end() && it->second.state != State::WAITING;
}

size_t DerpConnectionPolicy::openCount() const {
  size_t n = 0;
  for (const auto& [id, c] : conns_) n += c.state != State::WAITING ? 1 : 0;
  return n;
}

}  // namespace tnet::magicsock
