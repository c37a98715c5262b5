// netcheck's pure parts (Go net/netcheck/netcheck.go): which STUN servers to probe and when,
// folding STUN answers into a Report, and choosing the preferred (home) DERP region with Go's
// history and hysteresis. Sending, DNS and timing are the app's; it passes `now` and RTTs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libs/wire/disco_endpoint.h"
#include "services/magicsockd/core/derp_map.h"
#include "services/magicsockd/core/mono_time.h"

namespace tnet::magicsock {

enum class IpFamily { V4, V6 };

struct StunProbe {
  int regionId = 0;
  std::string nodeName;
  IpFamily family = IpFamily::V4;
  Duration delay{0};                   // after the start of the report
  std::optional<wire::IpPort> target;  // set when the node has an IP literal (or STUNTestIP)
  std::string hostName;                // otherwise: resolve this, take the first of `family`
  uint16_t port = 3478;
};

struct ProbePlanOptions {
  bool haveV4 = true;
  bool haveV6 = false;
};

// The full (initial) plan: every measurable region, 3 tries per family at 0/100/200 ms,
// rotating through the region's nodes. Nodes with STUNPort -1 or no address of a family are
// skipped; a region with none left gets no probes.
std::vector<StunProbe> makeFullProbePlan(const DerpMap& dm, const ProbePlanOptions& opts);

struct NetcheckReport;

// The incremental plan (Go makeProbePlan with a previous report): the 3 fastest regions of
// `last` plus the home region; 1 try each, 2 for the fastest two, 4 for the home; try k waits
// k × (1.2 × last latency, or 200 ms if unknown) plus k × 50 ms when k > 1. On dual-stack hosts
// that saw both families the 3rd+ regions alternate v4-only/v6-only; v6 is skipped outside the
// top two when `last` had no v6. An empty `last` gives the full plan.
std::vector<StunProbe> makeIncrementalProbePlan(const DerpMap& dm, const ProbePlanOptions& opts,
                                                const NetcheckReport& last, int homeRegion);

struct NetcheckReport {
  bool udp = false;
  bool ipv4 = false;
  bool ipv6 = false;
  std::map<int, Duration> regionLatency;  // min over families and probes
  std::map<int, Duration> regionV4Latency;
  std::map<int, Duration> regionV6Latency;
  std::optional<wire::IpPort> globalV4;
  std::optional<wire::IpPort> globalV6;
  std::optional<bool> mappingVariesByDestIp;  // unset until two v4 answers
  int preferredDerp = 0;
};

// Collects STUN answers for one report (Go reportState.addNodeLatency).
class ReportBuilder {
 public:
  // `mapped` is the XOR-MAPPED-ADDRESS; its family decides which latency map it feeds.
  void addStunResult(MonoTime now, int regionId, Duration rtt, const wire::IpPort& mapped);
  size_t regionsAnswered() const { return report_.regionLatency.size(); }
  const NetcheckReport& report() const { return report_; }

  // When to stop waiting for STUN answers to a report started at `start`: the 3 s STUN phase,
  // or, once 3 regions have answered, the largest latency seen by then (twice that for a full
  // report) after the third answer, whichever is first.
  MonoTime stunStopAt(MonoTime start, bool fullReport) const;

 private:
  NetcheckReport report_;
  std::optional<MonoTime> enoughAt_;
  Duration enoughWait_{0};
};

// NetInfo.DERPLatency as Go reports it to control: "<region>-v4"/"<region>-v6" → seconds.
std::map<std::string, double> derpLatencyForNetInfo(const NetcheckReport& r);

// Keeps the recent reports and picks PreferredDERP (Go addReportHistoryAndSetPreferredDERP).
class PreferredDerpChooser {
 public:
  // Sets report.preferredDerp. `lastDerpActivity` maps region → when we last heard from its DERP
  // server other than by STUN (Go's GetLastDERPActivity).
  void addReport(MonoTime now, NetcheckReport& report, const DerpMap& dm,
                 const std::map<int, MonoTime>& lastDerpActivity);
  int lastPreferred() const { return last_ ? last_->preferredDerp : 0; }

 private:
  std::map<MonoTime, NetcheckReport> history_;
  std::optional<NetcheckReport> last_;
};

}  // namespace tnet::magicsock
