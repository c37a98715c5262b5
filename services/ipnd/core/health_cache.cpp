#include "services/ipnd/core/health_cache.h"

#include <algorithm>
#include <ctime>
#include <set>

namespace tnet::ipnd {
namespace {

// "12:03:04 UTC": services run without a time zone database, so say which zone it is.
std::string utcClock(int64_t unixMs) {
  std::time_t t = static_cast<std::time_t>(unixMs / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return std::string(buf) + " UTC";
}

// When the note's window started: the exit, or when we first heard of it if the time is unknown.
int64_t restartAnchor(const ServiceHealth& h) {
  return h.lastExitUnixMs > 0 ? h.lastExitUnixMs : h.restartHeardAtUnixMs;
}

}  // namespace

bool HealthCache::restartNoteLive(const ServiceHealth& h, int64_t now) const {
  return h.restarts > 0 && !h.lastExit.empty() && now - restartAnchor(h) < RESTART_NOTE_MS;
}

std::map<std::string, std::string> HealthCache::restartNotes() const {
  std::map<std::string, std::string> notes;
  if (!clock_) return notes;  // nothing to age a note against
  int64_t now = clock_();
  for (const auto& [svc, h] : byService_) {
    if (!restartNoteLive(h, now)) continue;
    std::string when = h.lastExitUnixMs > 0 ? utcClock(h.lastExitUnixMs) + " " : "";
    notes[svc] = "restarted " + when + "after " + h.lastExit + " (restart " + std::to_string(h.restarts) + ")";
  }
  return notes;
}

bool HealthCache::expireRestartNotes() {
  if (!clock_) return false;
  int64_t now = clock_();
  std::set<std::string> live;
  for (const auto& [svc, h] : byService_) {
    if (restartNoteLive(h, now)) live.insert(svc);
  }
  bool expired = std::any_of(notedRestarts_.begin(), notedRestarts_.end(),
                             [&](const std::string& svc) { return live.count(svc) == 0; });
  notedRestarts_ = std::move(live);
  return expired;
}

void HealthCache::update(ServiceHealth h) {
  std::string name = h.service;
  // Every report of one process repeats its restart facts: the first one heard starts the clock.
  auto it = byService_.find(name);
  bool sameRestart = it != byService_.end() && it->second.restarts == h.restarts &&
                     it->second.lastExit == h.lastExit && it->second.lastExitUnixMs == h.lastExitUnixMs;
  h.restartHeardAtUnixMs = sameRestart ? it->second.restartHeardAtUnixMs : h.receivedAtUnixMs;
  byService_[name] = std::move(h);
}

void HealthCache::recordViolation(const std::string& service, Violation v) {
  auto& entry = violations_[service];
  ++entry.count;
  entry.last = std::move(v);
}

std::vector<std::string> HealthCache::healthLines() const {
  std::vector<std::string> lines;
  for (const auto& svc : expected_) {
    if (byService_.count(svc) == 0) lines.push_back(svc + ": no health report received");
  }
  for (const auto& [svc, h] : byService_) {
    if (h.state != "ok") {
      lines.push_back(svc + ": " + h.state + (h.message.empty() ? "" : ": " + h.message));
    }
  }
  for (const auto& [svc, note] : restartNotes()) lines.push_back(svc + ": " + note);
  for (const auto& [svc, v] : violations_) {
    lines.push_back(svc + ": denied " + std::to_string(v.count) + " request(s); last " +
                    (v.last.caller.empty() ? "unknown caller" : v.last.caller) + " (uid " +
                    std::to_string(v.last.uid) + ") called " + v.last.method);
  }
  return lines;
}

ipn::OrderedJson HealthCache::isolationJson() const {
  std::set<std::string> names(expected_.begin(), expected_.end());
  for (const auto& [svc, h] : byService_) names.insert(svc);
  for (const auto& [svc, v] : violations_) names.insert(svc);
  ipn::OrderedJson out = ipn::OrderedJson::array();
  for (const auto& svc : names) {
    ipn::OrderedJson o = ipn::OrderedJson::object();
    o["Service"] = svc;
    auto it = byService_.find(svc);
    if (it == byService_.end()) {
      o["Present"] = false;
      o["State"] = "absent";
      o["Message"] = "no health report received";
      o["Epoch"] = 0;
      o["ReceivedAtUnixMs"] = 0;
      o["Isolation"] = nullptr;
      o["Restarts"] = 0;
      o["LastExit"] = "";
      o["LastExitUnixMs"] = 0;
    } else {
      const ServiceHealth& h = it->second;
      o["Present"] = true;
      o["State"] = h.state;
      o["Message"] = h.message;
      o["Epoch"] = h.epoch;
      o["ReceivedAtUnixMs"] = h.receivedAtUnixMs;
      o["Isolation"] = h.isolation;
      // The facts the restarted process was given, kept (unlike the health line) until the
      // next report replaces them.
      o["Restarts"] = h.restarts;
      o["LastExit"] = h.lastExit;
      o["LastExitUnixMs"] = h.lastExitUnixMs;
    }
    auto vit = violations_.find(svc);
    if (vit == violations_.end()) {
      o["Violations"] = 0;
      o["LastViolation"] = nullptr;
    } else {
      const Violation& last = vit->second.last;
      o["Violations"] = vit->second.count;
      o["LastViolation"] = ipn::OrderedJson{
          {"Caller", last.caller}, {"Uid", last.uid}, {"Pid", last.pid}, {"Method", last.method}};
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace tnet::ipnd
