#include "services/magicsockd/core/netcheck.h"

#include <gtest/gtest.h>

#include "services/magicsockd/core/constants.h"
#include "services/magicsockd/core/test_util.h"

namespace tnet::magicsock {
namespace {

using namespace std::chrono_literals;
using testing::at;

DerpNode node(const char* name, int region, const char* v4, const char* v6 = "", int stunPort = 0) {
  DerpNode n;
  n.name = name;
  n.regionId = region;
  n.hostName = std::string(name) + ".derp.test";
  n.ipv4 = v4;
  n.ipv6 = v6;
  n.stunPort = stunPort;
  return n;
}

DerpMap testMap() {
  DerpMap dm;
  dm.regions[1] =
      DerpRegion{1, "one", false, {node("1a", 1, "192.0.2.1", "2001:db8::1"), node("1b", 1, "192.0.2.2")}};
  dm.regions[2] = DerpRegion{2, "two", false, {node("2a", 2, "", "none", 3479)}};
  dm.regions[3] = DerpRegion{3, "three", true, {node("3a", 3, "192.0.2.3")}};          // NoMeasureNoHome
  dm.regions[4] = DerpRegion{4, "four", false, {node("4a", 4, "192.0.2.4", "", -1)}};  // STUN off
  return dm;
}

TEST(ProbePlan, FullPlanRotatesNodesAndSkipsUnmeasurable) {
  auto plan = makeFullProbePlan(testMap(), ProbePlanOptions{true, true});
  // Region 1: 3 tries × v4 (1a,1b,1a) + v6 only on 1a (1b has "" → DNS) = 3 + 3.
  // Region 2: v4 by DNS ×3, v6 "none" skipped. Regions 3 and 4: none.
  size_t r1 = 0, r2 = 0;
  for (const auto& p : plan) {
    ASSERT_TRUE(p.regionId == 1 || p.regionId == 2) << p.regionId;
    (p.regionId == 1 ? r1 : r2)++;
  }
  EXPECT_EQ(r1, 6u);
  EXPECT_EQ(r2, 3u);
  EXPECT_EQ(plan[0].nodeName, "1a");
  EXPECT_EQ(plan[0].target, wire::IpPort::parse("192.0.2.1:3478"));
  EXPECT_EQ(plan[0].delay, 0ms);
  EXPECT_EQ(plan[1].family, IpFamily::V6);
  EXPECT_EQ(plan[1].target, wire::IpPort::parse("[2001:db8::1]:3478"));
  EXPECT_EQ(plan[2].nodeName, "1b");
  EXPECT_EQ(plan[2].delay, 100ms);
  EXPECT_EQ(plan[3].hostName, "1b.derp.test");  // v6 of 1b: resolve
  const StunProbe& two = plan[6];
  EXPECT_EQ(two.regionId, 2);
  EXPECT_FALSE(two.target);
  EXPECT_EQ(two.hostName, "2a.derp.test");
  EXPECT_EQ(two.port, 3479);
}

TEST(ProbePlan, NoV6WhenHostHasNone) {
  auto plan = makeFullProbePlan(testMap(), ProbePlanOptions{true, false});
  for (const auto& p : plan) EXPECT_EQ(p.family, IpFamily::V4);
  EXPECT_EQ(plan.size(), 6u);
}

TEST(ReportBuilder, MinLatencyAndMappingVaries) {
  ReportBuilder b;
  b.addStunResult(at(0s), 1, 30ms, *wire::IpPort::parse("203.0.113.1:1000"));
  EXPECT_FALSE(b.report().mappingVariesByDestIp);
  b.addStunResult(at(0s), 1, 20ms, *wire::IpPort::parse("203.0.113.1:1000"));
  EXPECT_EQ(b.report().mappingVariesByDestIp, false);
  b.addStunResult(at(0s), 2, 50ms, *wire::IpPort::parse("203.0.113.1:2000"));
  EXPECT_EQ(b.report().mappingVariesByDestIp, true);
  b.addStunResult(at(0s), 2, 40ms, *wire::IpPort::parse("[2001:db8::9]:1000"));
  const auto& r = b.report();
  EXPECT_TRUE(r.udp && r.ipv4 && r.ipv6);
  EXPECT_EQ(r.regionLatency.at(1), 20ms);
  EXPECT_EQ(r.regionLatency.at(2), 40ms);
  EXPECT_EQ(r.regionV4Latency.at(2), 50ms);
  EXPECT_EQ(r.regionV6Latency.at(2), 40ms);
  EXPECT_EQ(r.globalV4, wire::IpPort::parse("203.0.113.1:1000"));
  EXPECT_EQ(r.globalV6, wire::IpPort::parse("[2001:db8::9]:1000"));
}

TEST(ReportBuilder, StopsAfterThreeRegionsPlusMaxLatency) {
  ReportBuilder b;
  MonoTime start = at(0s);
  EXPECT_EQ(b.stunStopAt(start, false), start + NETCHECK_STUN_PROBE_TIMEOUT);
  b.addStunResult(start + 20ms, 1, 20ms, *wire::IpPort::parse("203.0.113.1:1"));
  b.addStunResult(start + 80ms, 2, 80ms, *wire::IpPort::parse("203.0.113.1:1"));
  EXPECT_EQ(b.stunStopAt(start, false), start + NETCHECK_STUN_PROBE_TIMEOUT);
  b.addStunResult(start + 50ms, 3, 50ms, *wire::IpPort::parse("[2001:db8::1]:1"));
  EXPECT_EQ(b.stunStopAt(start, false), start + 50ms + 80ms);
  EXPECT_EQ(b.stunStopAt(start, true), start + 50ms + 160ms);
  auto info = derpLatencyForNetInfo(b.report());
  EXPECT_DOUBLE_EQ(info.at("1-v4"), 0.02);
  EXPECT_DOUBLE_EQ(info.at("3-v6"), 0.05);
  EXPECT_EQ(info.count("3-v4"), 0u);
}

NetcheckReport reportOf(std::map<int, Duration> lat) {
  NetcheckReport r;
  r.udp = true;
  r.regionLatency = std::move(lat);
  return r;
}

TEST(PreferredDerp, LowestLatencyFirst) {
  PreferredDerpChooser c;
  auto r = reportOf({{1, 50ms}, {2, 20ms}});
  c.addReport(at(0s), r, testMap(), {});
  EXPECT_EQ(r.preferredDerp, 2);
}

TEST(PreferredDerp, HysteresisKeepsOldUnlessClearlyBetter) {
  PreferredDerpChooser c;
  auto r0 = reportOf({{1, 100ms}, {2, 200ms}});
  c.addReport(at(0s), r0, testMap(), {});
  ASSERT_EQ(r0.preferredDerp, 1);
  // 2 is now 90 ms vs old 100 ms: less than 10 ms better → keep 1.
  auto r1 = reportOf({{1, 100ms}, {2, 91ms}});
  c.addReport(at(30s), r1, testMap(), {});
  EXPECT_EQ(r1.preferredDerp, 1);
  // 70 ms vs 100 ms: 30 ms better but not under 2/3 (66.66 ms) → keep 1.
  auto r2 = reportOf({{1, 100ms}, {2, 70ms}});
  c.addReport(at(60s), r2, testMap(), {});
  EXPECT_EQ(r2.preferredDerp, 1);
  // 60 ms: both thresholds passed → switch.
  auto r3 = reportOf({{1, 100ms}, {2, 60ms}});
  c.addReport(at(90s), r3, testMap(), {});
  EXPECT_EQ(r3.preferredDerp, 2);
}

TEST(PreferredDerp, OldHomeGoneFromReportSwitchesUnlessHeardRecently) {
  {
    PreferredDerpChooser c;
    auto r0 = reportOf({{1, 100ms}});
    c.addReport(at(0s), r0, testMap(), {});
    auto r1 = reportOf({{2, 95ms}});
    c.addReport(at(30s), r1, testMap(), {{1, at(30s) - 7s}});  // DERP frames 7 s ago: accessible
    EXPECT_EQ(r1.preferredDerp, 1);
  }
  {
    PreferredDerpChooser c;
    auto r0 = reportOf({{1, 100ms}});
    c.addReport(at(0s), r0, testMap(), {});
    auto r1 = reportOf({{2, 95ms}});
    c.addReport(at(30s), r1, testMap(), {{1, at(30s) - 9s}});  // older than 8 s
    EXPECT_EQ(r1.preferredDerp, 2);
  }
}

TEST(PreferredDerp, HistoryAndRegionScore) {
  PreferredDerpChooser c;
  DerpMap dm = testMap();
  auto r0 = reportOf({{1, 30ms}, {2, 100ms}});
  c.addReport(at(0s), r0, dm, {});
  ASSERT_EQ(r0.preferredDerp, 1);
  // A one-off spike on region 1 does not move us: its 30 ms best is remembered for 5 minutes.
  auto r1 = reportOf({{1, 300ms}, {2, 100ms}});
  c.addReport(at(60s), r1, dm, {});
  EXPECT_EQ(r1.preferredDerp, 1);
  // RegionScore 0.1 makes region 2 (100 ms → 10 ms) win clearly.
  dm.regionScore[2] = 0.1;
  auto r2 = reportOf({{1, 30ms}, {2, 100ms}});
  c.addReport(at(120s), r2, dm, {});
  EXPECT_EQ(r2.preferredDerp, 2);
}

TEST(PreferredDerp, NothingMeasuredKeepsLiveHome) {
  PreferredDerpChooser c;
  auto r0 = reportOf({{1, 30ms}});
  c.addReport(at(0s), r0, testMap(), {});
  NetcheckReport empty;
  c.addReport(at(60s), empty, testMap(), {{1, at(60s) - 100s}});
  EXPECT_EQ(empty.preferredDerp, 1);
  NetcheckReport empty2;
  c.addReport(at(400s), empty2, testMap(), {{1, at(400s) - 130s}});
  EXPECT_EQ(empty2.preferredDerp, 0);
}

}  // namespace
}  // namespace tnet::magicsock

namespace tnet::magicsock {
namespace {

using namespace std::chrono_literals;

DerpMap fiveRegions() {
  DerpMap dm;
  for (int id = 1; id <= 5; id++) {
    DerpNode n;
    n.name = std::to_string(id) + "a";
    n.regionId = id;
    n.ipv4 = "192.0.2." + std::to_string(id);
    n.ipv6 = "2001:db8::" + std::to_string(id);
    dm.regions[id] = DerpRegion{id, "r" + std::to_string(id), false, {n}};
  }
  return dm;
}

TEST(ProbePlan, IncrementalTopThreePlusHome) {
  NetcheckReport last;
  last.regionLatency = {{1, 50ms}, {2, 10ms}, {3, 20ms}, {4, 30ms}, {5, 0ms + 40ms}};
  last.regionV4Latency = last.regionLatency;
  auto plan = makeIncrementalProbePlan(fiveRegions(), ProbePlanOptions{true, false}, last, 5);
  std::map<int, std::vector<Duration>> delays;
  for (const auto& p : plan) {
    EXPECT_EQ(p.family, IpFamily::V4);
    delays[p.regionId].push_back(p.delay);
  }
  ASSERT_EQ(delays.size(), 4u);  // 2, 3, 4 and home 5; region 1 (slowest) skipped
  EXPECT_EQ(delays.count(1), 0u);
  EXPECT_EQ(delays[2], (std::vector<Duration>{0ms, 12ms}));  // fastest two: 2 tries, 1.2 × 10 ms
  EXPECT_EQ(delays[3], (std::vector<Duration>{0ms, 24ms}));
  EXPECT_EQ(delays[4], (std::vector<Duration>{0ms}));
  // Home: 4 tries at k × 48 ms, + k × 50 ms for k > 1.
  EXPECT_EQ(delays[5], (std::vector<Duration>{0ms, 48ms, 196ms, 294ms}));
}

TEST(ProbePlan, IncrementalDualStackAlternatesAndEmptyLastIsFull) {
  NetcheckReport last;
  last.regionLatency = {{1, 10ms}, {2, 20ms}, {3, 30ms}};
  last.regionV4Latency = last.regionLatency;
  last.regionV6Latency = last.regionLatency;
  auto plan = makeIncrementalProbePlan(fiveRegions(), ProbePlanOptions{true, true}, last, 1);
  size_t v6In3 = 0, v4In3 = 0;
  for (const auto& p : plan) {
    if (p.regionId == 3) (p.family == IpFamily::V6 ? v6In3 : v4In3)++;
  }
  EXPECT_EQ(v4In3, 1u);  // index 2: v4 only
  EXPECT_EQ(v6In3, 0u);
  EXPECT_EQ(makeIncrementalProbePlan(fiveRegions(), ProbePlanOptions{true, true}, NetcheckReport{}, 0).size(),
            makeFullProbePlan(fiveRegions(), ProbePlanOptions{true, true}).size());
}

}  // namespace
}  // namespace tnet::magicsock
