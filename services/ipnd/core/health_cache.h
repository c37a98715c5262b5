// ipnd is the only status aggregator: it caches each service's retained `<svc>.health` event and
// answers status from the cache. Missing data is reported as absent plus a Health line; nobody
// waits for it.
#pragma once

#include <cstdint>
#include <map>
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
};

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

  void update(ServiceHealth h);
  // Counts a denied request at `service` and remembers the latest.
  void recordViolation(const std::string& service, Violation v);
  const std::map<std::string, ServiceHealth>& all() const { return byService_; }

  // One line per expected service that has not reported, per service not "ok", and per
  // service that denied requests.
  std::vector<std::string> healthLines() const;

  // The body of GET /localapi/v0/tailnetd/isolation: a JSON array, one object per expected
  // or reporting service, in name order:
  // {"Service","Present","State","Message","Epoch","ReceivedAtUnixMs","Isolation",
  //  "Violations","LastViolation"}.
  ipn::OrderedJson isolationJson() const;

 private:
  std::vector<std::string> expected_;
  std::map<std::string, ServiceHealth> byService_;
  struct Violations {
    uint64_t count = 0;
    Violation last;
  };
  std::map<std::string, Violations> violations_;
};

}  // namespace tnet::ipnd
