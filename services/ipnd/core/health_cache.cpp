#include "services/ipnd/core/health_cache.h"

#include <set>

namespace tnet::ipnd {

void HealthCache::update(ServiceHealth h) {
  std::string name = h.service;
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
    } else {
      const ServiceHealth& h = it->second;
      o["Present"] = true;
      o["State"] = h.state;
      o["Message"] = h.message;
      o["Epoch"] = h.epoch;
      o["ReceivedAtUnixMs"] = h.receivedAtUnixMs;
      o["Isolation"] = h.isolation;
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
