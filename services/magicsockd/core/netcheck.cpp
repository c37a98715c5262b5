#include "services/magicsockd/core/netcheck.h"

#include <algorithm>

#include "services/magicsockd/core/constants.h"

namespace tnet::magicsock {

namespace {

// Go nodeMight4/nodeMight6 + nodeAddr: "" means "look up HostName"; a literal of the other
// family or an unparsable value ("none") means the node has no address of this family.
bool nodeAddress(const DerpNode& n, IpFamily fam, StunProbe& probe) {
  int port = n.stunPort == 0 ? STUN_DEFAULT_PORT : n.stunPort;
  if (port < 0 || port > 65535) return false;
  probe.port = static_cast<uint16_t>(port);
  auto literal = [&](const std::string& text) -> std::optional<wire::IpPort> {
    std::string hostPort = text.find(':') != std::string::npos ? "[" + text + "]:0" : text + ":0";
    auto ipp = wire::IpPort::parse(hostPort);
    if (!ipp) return std::nullopt;
    ipp->port = probe.port;
    return ipp;
  };
  if (!n.stunTestIp.empty()) {
    auto ipp = literal(n.stunTestIp);
    if (!ipp || ipp->is4() != (fam == IpFamily::V4)) return false;
    probe.target = ipp;
    return true;
  }
  const std::string& field = fam == IpFamily::V4 ? n.ipv4 : n.ipv6;
  if (field.empty()) {
    if (n.hostName.empty()) return false;
    probe.hostName = n.hostName;
    return true;
  }
  auto ipp = literal(field);
  if (!ipp || ipp->is4() != (fam == IpFamily::V4)) return false;
  probe.target = ipp;
  return true;
}

void updateLatency(std::map<int, Duration>& m, int region, Duration d) {
  auto it = m.find(region);
  if (it == m.end() || d < it->second) m[region] = d;
}

}  // namespace

std::vector<StunProbe> makeFullProbePlan(const DerpMap& dm, const ProbePlanOptions& opts) {
  std::vector<StunProbe> plan;
  for (const auto& [id, region] : dm.regions) {
    if (region.noMeasureNoHome || region.nodes.empty()) continue;
    for (int attempt = 0; attempt < NETCHECK_FULL_TRIES; attempt++) {
      const DerpNode& n = region.nodes[static_cast<size_t>(attempt) % region.nodes.size()];
      for (IpFamily fam : {IpFamily::V4, IpFamily::V6}) {
        if (fam == IpFamily::V4 ? !opts.haveV4 : !opts.haveV6) continue;
        StunProbe p;
        p.regionId = id;
        p.nodeName = n.name;
        p.family = fam;
        p.delay = attempt * NETCHECK_FULL_TRY_SPACING;
        if (nodeAddress(n, fam, p)) plan.push_back(std::move(p));
      }
    }
  }
  return plan;
}

std::vector<StunProbe> makeIncrementalProbePlan(const DerpMap& dm, const ProbePlanOptions& opts,
                                                const NetcheckReport& last, int homeRegion) {
  if (last.regionLatency.empty()) return makeFullProbePlan(dm, opts);
  std::vector<int> order;
  for (const auto& [id, region] : dm.regions) {
    if (!region.noMeasureNoHome && !region.nodes.empty()) order.push_back(id);
  }
  // By last latency; regions without one go last, in ID order (stable sort over sorted IDs).
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    auto la = last.regionLatency.find(a);
    auto lb = last.regionLatency.find(b);
    if (la == last.regionLatency.end() || lb == last.regionLatency.end()) {
      return la != last.regionLatency.end() && lb == last.regionLatency.end();
    }
    return la->second < lb->second;
  });
  if (order.size() > NETCHECK_INCREMENTAL_REGIONS) {
    bool homeInTop = std::find(order.begin(), order.begin() + NETCHECK_INCREMENTAL_REGIONS, homeRegion) !=
                     order.begin() + NETCHECK_INCREMENTAL_REGIONS;
    bool homeKnown = std::find(order.begin(), order.end(), homeRegion) != order.end();
    order.resize(NETCHECK_INCREMENTAL_REGIONS);
    if (!homeInTop && homeKnown) order.push_back(homeRegion);  // the home is always re-measured
  }
  bool had4 = !last.regionV4Latency.empty();
  bool had6 = !last.regionV6Latency.empty();
  bool hadBoth = opts.haveV6 && had4 && had6;

  std::vector<StunProbe> plan;
  for (size_t ri = 0; ri < order.size(); ri++) {
    const DerpRegion& region = dm.regions.at(order[ri]);
    bool do4 = opts.haveV4;
    bool do6 = opts.haveV6;
    bool fastestTwo = ri < 2;
    int tries = fastestTwo ? 2 : 1;
    if (!fastestTwo && hadBoth) {
      do4 = ri % 2 == 0;
      do6 = !do4;
    }
    if (!fastestTwo && !had6) do6 = false;
    if (order[ri] == homeRegion) tries = 4;
    Duration base = NETCHECK_DEFAULT_ACTIVE_RETRANSMIT;
    if (auto it = last.regionLatency.find(order[ri]);
        it != last.regionLatency.end() && it->second > Duration(0)) {
      base = it->second * 120 / 100;
    }
    for (int attempt = 0; attempt < tries; attempt++) {
      const DerpNode& n = region.nodes[static_cast<size_t>(attempt) % region.nodes.size()];
      Duration delay = attempt * base;
      if (attempt > 1) delay += attempt * NETCHECK_RETRY_EXTRA;
      for (IpFamily fam : {IpFamily::V4, IpFamily::V6}) {
        if (fam == IpFamily::V4 ? !do4 : !do6) continue;
        StunProbe p;
        p.regionId = order[ri];
        p.nodeName = n.name;
        p.family = fam;
        p.delay = delay;
        if (nodeAddress(n, fam, p)) plan.push_back(std::move(p));
      }
    }
  }
  return plan;
}

void ReportBuilder::addStunResult(MonoTime now, int regionId, Duration rtt, const wire::IpPort& mapped) {
  report_.udp = true;
  updateLatency(report_.regionLatency, regionId, rtt);
  if (!enoughAt_ && report_.regionLatency.size() >= NETCHECK_ENOUGH_REGIONS) {
    enoughAt_ = now;
    for (const auto& [id, d] : report_.regionLatency) enoughWait_ = std::max(enoughWait_, d);
  }
  if (mapped.is4()) {
    updateLatency(report_.regionV4Latency, regionId, rtt);
    report_.ipv4 = true;
    if (!report_.globalV4) {
      report_.globalV4 = mapped;
    } else if (*report_.globalV4 != mapped) {
      report_.mappingVariesByDestIp = true;  // hard NAT: mapping depends on destination
    } else if (!report_.mappingVariesByDestIp) {
      report_.mappingVariesByDestIp = false;
    }
  } else {
    updateLatency(report_.regionV6Latency, regionId, rtt);
    report_.ipv6 = true;
    if (!report_.globalV6) report_.globalV6 = mapped;
  }
}

MonoTime ReportBuilder::stunStopAt(MonoTime start, bool fullReport) const {
  MonoTime stop = start + NETCHECK_STUN_PROBE_TIMEOUT;
  if (enoughAt_) stop = earliest(stop, *enoughAt_ + (fullReport ? 2 * enoughWait_ : enoughWait_));
  return stop;
}

std::map<std::string, double> derpLatencyForNetInfo(const NetcheckReport& r) {
  std::map<std::string, double> out;
  auto seconds = [](Duration d) { return std::chrono::duration<double>(d).count(); };
  for (const auto& [id, d] : r.regionV4Latency) out[std::to_string(id) + "-v4"] = seconds(d);
  for (const auto& [id, d] : r.regionV6Latency) out[std::to_string(id) + "-v6"] = seconds(d);
  return out;
}

void PreferredDerpChooser::addReport(MonoTime now, NetcheckReport& r, const DerpMap& dm,
                                     const std::map<int, MonoTime>& lastDerpActivity) {
  int prev = last_ ? last_->preferredDerp : 0;
  auto scale = [&](int region, Duration d) {
    auto it = dm.regionScore.find(region);
    if (it != dm.regionScore.end() && it->second > 0) {
      return Duration(static_cast<int64_t>(static_cast<double>(d.count()) * it->second));
    }
    return d;
  };

  // Best latency per region over the retained history, then scaled by RegionScore.
  std::map<int, Duration> bestRecent;
  for (auto it = history_.begin(); it != history_.end();) {
    if (now - it->first > NETCHECK_HISTORY_MAX_AGE) {
      it = history_.erase(it);
      continue;
    }
    for (const auto& [region, d] : it->second.regionLatency) updateLatency(bestRecent, region, d);
    ++it;
  }
  for (const auto& [region, d] : r.regionLatency) updateLatency(bestRecent, region, d);
  for (auto& [region, d] : bestRecent) d = scale(region, d);

  // Candidates are only the regions in this report; the old home is judged by this report's
  // latency, the candidates by their history (Go's deliberate asymmetry).
  r.preferredDerp = 0;
  Duration bestAny{0};
  Duration oldCur{0};
  for (const auto& [region, d] : r.regionLatency) {
    if (region == prev) oldCur = scale(region, d);
    Duration best = bestRecent[region];
    if (r.preferredDerp == 0 || best < bestAny) {
      bestAny = best;
      r.preferredDerp = region;
    }
  }

  bool heardRecently = false;
  if (auto it = lastDerpActivity.find(prev); prev != 0 && it != lastDerpActivity.end()) {
    heardRecently = now - it->second < PREFERRED_DERP_FRAME_TIME;
  }
  bool changing = prev != 0 && r.preferredDerp != prev;
  bool oldAccessible = oldCur != Duration(0) || heardRecently;
  bool keepOld = false;
  if (changing && oldAccessible) {
    if (oldCur - bestAny < PREFERRED_DERP_ABSOLUTE_DIFF) keepOld = true;
    if (bestAny > oldCur / 3 * 2) keepOld = true;  // Go's integer arithmetic, on nanoseconds
  }
  // Nothing measurable at all: keep the old home while its DERP connection is alive.
  if (r.preferredDerp == 0 && prev != 0) {
    auto it = lastDerpActivity.find(prev);
    if (it != lastDerpActivity.end() && now - it->second < DERP_KEEP_HOME_WITHOUT_SAMPLE) keepOld = true;
  }
  if (keepOld) r.preferredDerp = prev;

  history_[now] = r;
  last_ = r;
}

}  // namespace tnet::magicsock
