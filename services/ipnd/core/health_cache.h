// ipnd is the only status aggregator: it caches each service's retained `<svc>.health` event and
// answers status from the cache. Missing data is reported as absent plus a Health line; nobody
// waits for it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "libs/ipn/go_json.h"

namespace tnet::ipnd {

struct ServiceHealth {
  std::string service;
  std::string state;  // e.g. "ok", "degraded", "failed", "starting"
  std::string message;
  ipn::OrderedJson isolation = ipn::OrderedJson::object();  // IsolationFacts as JSON
  uint64_t epoch = 0;
  int64_t receivedAtUnixMs = 0;
  // Why the supervisor last restarted the service (Health.lastExit..., docs/supervisor.md).
  uint32_t restarts = 0;
  std::string lastExit;
  int64_t lastExitUnixMs = 0;
  int64_t restartHeardAtUnixMs = 0;  // set by HealthCache::update: first report of these facts
};

// How long "<svc>: restarted ..." stays in the health lines after the exit.
constexpr int64_t RESTART_NOTE_MS = 10 * 60 * 1000;

// A request a service denied (its <svc>.violation event): who the kernel said called what.
struct Violation {
  std::string caller;  // bus identity of the caller ("" when the uid maps to none)
  uint32_t uid = 0;
  uint32_t pid = 0;
  std::string method;
};

class HealthCache {
 public:
  explicit HealthCache(std::vector<std::string> expectedServices) : expected_(std::move(expectedServices)) {}

  // The wall clock (unix ms) the restart notes are timed against: the app passes its own,
  // tests a stepped one. Without a clock there are no restart notes (core reads no clock).
  void setClock(std::function<int64_t()> nowUnixMs) { clock_ = std::move(nowUnixMs); }

  void update(ServiceHealth h);
  // Counts a denied request at `service` and remembers the latest.
  void recordViolation(const std::string& service, Violation v);
  const std::map<std::string, ServiceHealth>& all() const { return byService_; }

  // One line per expected service that has not reported, per service not "ok", per service
  // restarted within RESTART_NOTE_MS, and per service that denied requests.
  std::vector<std::string> healthLines() const;

  // "restarted 12:03:04 UTC after signal 11 (Segmentation fault) (restart 2)" for each service
  // whose last restart is recent, by service name.
  std::map<std::string, std::string> restartNotes() const;
  // True when a restart note seen live at the previous call has aged out since (the health
  // lines changed without any event): called on a timer to notify watchers.
  bool expireRestartNotes();

  // The body of GET /localapi/v0/tailnetd/isolation: a JSON array, one object per expected
  // or reporting service, in name order:
  // {"Service","Present","State","Message","Epoch","ReceivedAtUnixMs","Isolation",
  //  "Restarts","LastExit","LastExitUnixMs","Violations","LastViolation"}; the restart facts
  //  stay until the service's next report replaces them.
  ipn::OrderedJson isolationJson() const;

 private:
  bool restartNoteLive(const ServiceHealth& h, int64_t now) const;

  std::function<int64_t()> clock_;
  std::vector<std::string> expected_;
  std::map<std::string, ServiceHealth> byService_;
  struct Violations {
    uint64_t count = 0;
    Violation last;
  };
  std::map<std::string, Violations> violations_;
  std::set<std::string> notedRestarts_;  // restart notes live at the last expireRestartNotes()
};

}  // namespace tnet::ipnd
