// ControlClient's config: setConfig decides whether the map poll runs (and restarts it on a new
// node key or URL), and sends lite map updates (with backoff) when endpoints or hostinfo change.
#include <algorithm>

#include "services/controld/app/control_client_impl.h"
#include "services/controld/core/hostinfo_parse.h"

namespace tnet::controld {

bool ControlClient::Impl::liteFieldsDiffer(const ConfigInput& a, const ConfigInput& b) {
  return a.hostinfoJson != b.hostinfoJson || a.netInfoJson != b.netInfoJson ||
         a.preferredDerp != b.preferredDerp || a.discoPublic != b.discoPublic ||
         a.endpoints.size() != b.endpoints.size() || a.endpointTypes != b.endpointTypes ||
         !std::equal(
             a.endpoints.begin(), a.endpoints.end(), b.endpoints.begin(),
             [](const ipn::IpAddrPort& x, const ipn::IpAddrPort& y) { return x.toString() == y.toString(); });
}

bool ControlClient::Impl::wantPoll() const {
  return cfg && cfg->wantRunning && !cfg->nodePublic.isZero() && !cfg->discoPublic.isZero() &&
         cfg->nodePublic != loggedOutNode;
}

Result<std::pair<uint64_t, uint64_t>> ControlClient::Impl::setConfig(ConfigInput next) {
  if (cfg && (next.generationEpoch < cfg->generationEpoch ||
              (next.generationEpoch == cfg->generationEpoch && next.generationN < cfg->generationN))) {
    log::logger().debug("config.stale epoch={} n={}", next.generationEpoch, next.generationN);
    return std::make_pair(cfg->generationEpoch, cfg->generationN);
  }
  Hostinfo hi;
  if (!next.hostinfoJson.empty()) {
    TNET_TRY(hi, hostinfoFromJson(next.hostinfoJson));
  }
  std::optional<NetInfo> ni;
  if (!next.netInfoJson.empty()) {
    TNET_TRY(ni, netInfoFromJson(next.netInfoJson));
  }
  if (next.endpointTypes.size() != next.endpoints.size()) {
    return Error::invalid("setConfig: endpoints and their types differ in length");
  }
  bool liteChanged = !cfg || liteFieldsDiffer(*cfg, next);
  cfg = std::move(next);
  cfgHostinfo = std::move(hi);
  cfgNetInfo = std::move(ni);
  bool urlChanged = setUrl(cfg->controlUrl);
  if (!wantPoll()) {
    if (pollWanted) stopPoll();
  } else if (!pollWanted || pollNode != cfg->nodePublic || urlChanged) {
    startPoll();
    sendLite();  // Go's restartMap also bumps the update generation
  } else if (liteChanged) {
    sendLite();
  }
  return std::make_pair(cfg->generationEpoch, cfg->generationN);
}

MapRequest ControlClient::Impl::baseMapRequest() const {
  MapRequest req;
  req.nodeKey = cfg->nodePublic;
  req.discoKey = cfg->discoPublic;
  req.hostinfo = cfgHostinfo;
  if (cfgNetInfo || cfg->preferredDerp != 0) {
    NetInfo ni = cfgNetInfo.value_or(NetInfo{});
    if (cfg->preferredDerp != 0) ni.preferredDerp = cfg->preferredDerp;
    req.hostinfo.netInfo = ni;
  }
  req.endpoints = cfg->endpoints;
  req.endpointTypes = cfg->endpointTypes;
  return req;
}

void ControlClient::Impl::sendLite() {
  uint64_t gen = ++liteGen;
  liteRetry.reset();
  std::weak_ptr<Impl> self = weak_from_this();
  withConnection([self, gen](Result<net::Ts2021Client*> c) {
    auto s = self.lock();
    if (!s || gen != s->liteGen || !s->pollWanted) return;
    if (!c) return s->liteFailed(gen, c.error().message);
    net::H2Request req;
    req.path = "/machine/map";
    req.headers.emplace_back("ts-lb", s->cfg->nodePublic.toString());
    req.body = mapRequestJson(liteMapRequest(s->baseMapRequest()));
    (*c)->request(std::move(req), s->opts.requestTimeout, [self, gen](Result<net::H2Response> r) {
      auto s2 = self.lock();
      if (!s2 || gen != s2->liteGen) return;
      if (!r) return s2->liteFailed(gen, r.error().message);
      if (r->status != 200) return s2->liteFailed(gen, httpError("lite map update", r->status, r->body));
      s2->liteBackoff.reset();
      log::logger().debug("map.lite.sent");
    });
  });
}

void ControlClient::Impl::liteFailed(uint64_t gen, const std::string& message) {
  warnNet("map.lite.failed", message);
  std::weak_ptr<Impl> self = weak_from_this();
  liteRetry = loop.after(liteBackoff.next(), [self, gen] {
    auto s = self.lock();
    if (s && gen == s->liteGen && s->pollWanted) s->sendLite();
  });
}

}  // namespace tnet::controld
