// netcheck: STUN probes from the WireGuard sockets (so NAT mappings are the ones peers see),
// reports, the preferred DERP region, and our endpoints (local addresses unless
// TS_DEBUG_OMIT_LOCAL_ADDRS=1, plus the STUN-mapped ones).
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>
#include <random>

#include "services/magicsockd/app/magicsock.h"
#include "services/magicsockd/core/addr_quality.h"

namespace tnet::magicsockd {

namespace {

constexpr auto STUN_PHASE_MAX = std::chrono::seconds(3);
constexpr uint8_t ENDPOINT_LOCAL = 1;
constexpr uint8_t ENDPOINT_STUN = 2;

// Go's netmon.LocalAddresses: interface addresses that are up, not link-local; loopback only when
// there is nothing else.
std::vector<wire::IpPort> localAddresses(uint16_t port4, uint16_t port6) {
  std::vector<wire::IpPort> regular, loopback;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return {};
  for (ifaddrs* i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    wire::IpPort a;
    if (i->ifa_addr->sa_family == AF_INET) {
      std::array<uint8_t, 4> b;
      std::memcpy(b.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
      a = wire::IpPort::v4(b, port4);
    } else if (i->ifa_addr->sa_family == AF_INET6 && port6 != 0) {
      std::array<uint8_t, 16> b;
      std::memcpy(b.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
      a = wire::IpPort::v6(b, port6);
    } else {
      continue;
    }
    if (magicsock::isLinkLocalUnicast(a)) continue;
    (magicsock::isLoopback(a) ? loopback : regular).push_back(a);
  }
  freeifaddrs(ifs);
  return regular.empty() ? loopback : regular;
}

}  // namespace

void Magicsock::refreshEndpoints() {
  std::vector<OwnEndpoint> eps;
  auto add = [&](const wire::IpPort& a, uint8_t type) {
    for (const auto& e : eps) {
      if (e.addr == a) return;
    }
    eps.push_back(OwnEndpoint{a, type});
  };
  if (lastReport_) {
    if (lastReport_->globalV4) add(*lastReport_->globalV4, ENDPOINT_STUN);
    if (lastReport_->globalV6) add(*lastReport_->globalV6, ENDPOINT_STUN);
  }
  if (!omitLocalAddrs_) {
    for (const auto& a : localAddresses(udp4_.port(), udp6_.isOpen() ? udp6_.port() : 0))
      add(a, ENDPOINT_LOCAL);
  }
  if (eps != endpoints_) {
    endpoints_ = std::move(eps);
    std::string list;
    for (const auto& e : endpoints_) list += (list.empty() ? "" : ",") + e.addr.toString();
    log_.info("magicsock.endpoints list={}", list.empty() ? "-" : list);
    publishDerpState();
  }
}

void Magicsock::startNetcheck(bool full, std::optional<bus::Request> waiter) {
  if (netcheck_) {
    if (waiter) netcheck_->waiters.push_back(*waiter);
    return;
  }
  auto run = std::make_unique<NetcheckRun>();
  run->start = monoNow();
  magicsock::ProbePlanOptions opts{.haveV4 = udp4_.isOpen(), .haveV6 = udp6_.isOpen()};
  std::vector<magicsock::StunProbe> plan;
  if (full || !lastReport_) {
    plan = magicsock::makeFullProbePlan(derpMap_, opts);
    run->full = true;
  } else {
    plan = magicsock::makeIncrementalProbePlan(derpMap_, opts, *lastReport_, derpPolicy_.home());
    run->full = false;
  }
  if (waiter) run->waiters.push_back(*waiter);
  for (const auto& probe : plan) {
    run->probeTimers.push_back(loop_.after(probe.delay, [this, probe] { sendProbe(probe); }));
  }
  run->stopAt = run->start + STUN_PHASE_MAX;
  run->stopTimer = loop_.after(STUN_PHASE_MAX, [this] { finishNetcheck(); });
  netcheck_ = std::move(run);
  log_.debug("magicsock.netcheck_start full={} probes={}", netcheck_->full, plan.size());
}

void Magicsock::sendProbe(const magicsock::StunProbe& probe) {
  if (probe.target) {
    auto t = *probe.target;
    t.port = probe.port;
    sendProbeTo(probe.regionId, t);
    return;
  }
  if (probe.hostName.empty()) return;
  bool want4 = probe.family == magicsock::IpFamily::V4;
  int region = probe.regionId;
  uint16_t port = probe.port;
  std::weak_ptr<int> alive = alive_;
  resolveHost(loop_, probe.hostName, [this, alive, want4, region, port](std::vector<std::string> addrs) {
    if (alive.expired()) return;
    for (const auto& s : addrs) {
      auto ipp =
          wire::IpPort::parse(s.find(':') == std::string::npos ? s + ":" + std::to_string(port)
                                                               : "[" + s + "]:" + std::to_string(port));
      if (ipp && ipp->is4() == want4) {
        sendProbeTo(region, *ipp);
        return;
      }
    }
  });
}

void Magicsock::sendProbeTo(int region, const wire::IpPort& target) {
  if (!netcheck_) return;
  UdpSocket& s = target.is4() ? udp4_ : udp6_;
  if (!s.isOpen()) return;
  auto tx = stun::newTxId();
  netcheck_->inflight[tx] = {region, monoNow()};
  auto req = stun::bindingRequest(tx);
  s.sendNow(target, req);
}

void Magicsock::onStunResponse(const wire::IpPort& from, ByteSpan packet) {
  auto resp = stun::parseResponse(packet);
  if (!resp || !netcheck_) {
    drops_.stunUnsolicited++;
    return;
  }
  auto it = netcheck_->inflight.find(resp->txId);
  if (it == netcheck_->inflight.end()) {
    drops_.stunUnsolicited++;
    return;
  }
  (void)from;
  auto now = monoNow();
  auto [region, sentAt] = it->second;
  netcheck_->inflight.erase(it);
  netcheck_->builder.addStunResult(now, region, now - sentAt, resp->mapped);
  auto stopAt = netcheck_->builder.stunStopAt(netcheck_->start, netcheck_->full);
  if (stopAt < netcheck_->stopAt) {
    netcheck_->stopAt = stopAt;
    auto delay = stopAt - now;
    if (delay < Duration(0)) delay = Duration(0);
    netcheck_->stopTimer = loop_.after(delay, [this] { finishNetcheck(); });
  }
}

void Magicsock::finishNetcheck() {
  if (!netcheck_) return;
  auto run = std::move(netcheck_);
  auto now = monoNow();
  magicsock::NetcheckReport report = run->builder.report();
  report.udp = !report.regionLatency.empty();
  report.ipv4 = !report.regionV4Latency.empty();
  report.ipv6 = !report.regionV6Latency.empty();
  chooser_.addReport(now, report, derpMap_, lastDerpActivity_);
  lastReport_ = report;
  log_.info("magicsock.netcheck udp={} v4={} global_v4={} preferred_derp={} regions={}", report.udp,
            report.ipv4, report.globalV4 ? report.globalV4->toString() : "-", report.preferredDerp,
            report.regionLatency.size());
  std::mt19937 rng(std::random_device{}());
  int home = magicsock::chooseHomeRegion(report.preferredDerp, derpPolicy_.home(), true, derpMap_,
                                         [&](size_t n) { return size_t(rng() % n); });
  if (wantRunning_) setHome(home);
  refreshEndpoints();
  publishDerpState();
  for (auto& w : run->waiters) {
    w.reply([&](capnp::AnyPointer::Builder b) { fillReport(b.initAs<schema::NetcheckReport>(), report); });
  }
  if (wantRunning_) scheduleReStun();
}

void Magicsock::scheduleReStun() {
  // Go: every random 20–26 s while active.
  std::mt19937 rng(std::random_device{}());
  auto delay = std::chrono::milliseconds(20000 + rng() % 6000);
  reStunTimer_ = loop_.after(delay, [this] {
    if (wantRunning_ && !derpMap_.regions.empty()) startNetcheck(false, std::nullopt);
  });
}

void Magicsock::fillReport(schema::NetcheckReport::Builder out, const magicsock::NetcheckReport& r) const {
  out.setUdp(r.udp);
  out.setIpv4(r.ipv4);
  out.setIpv6(r.ipv6);
  out.setGlobalV4(r.globalV4 ? r.globalV4->toString() : "");
  out.setGlobalV6(r.globalV6 ? r.globalV6->toString() : "");
  out.setMappingVariesByDestIp(r.mappingVariesByDestIp ? int8_t(*r.mappingVariesByDestIp) : int8_t(-1));
  out.setPreferredDerp(r.preferredDerp);
  auto fill = [](auto list, const std::map<int, Duration>& m) {
    unsigned i = 0;
    for (const auto& [id, d] : m) {
      list[i].setRegionId(id);
      list[i].setLatencyNs(d.count());
      ++i;
    }
  };
  fill(out.initRegionLatency(unsigned(r.regionLatency.size())), r.regionLatency);
  fill(out.initRegionV4Latency(unsigned(r.regionV4Latency.size())), r.regionV4Latency);
  fill(out.initRegionV6Latency(unsigned(r.regionV6Latency.size())), r.regionV6Latency);
  out.setHairPinning(-1);
  out.setCaptivePortal(-1);
}

}  // namespace tnet::magicsockd
