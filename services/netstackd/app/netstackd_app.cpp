#include "services/netstackd/app/netstackd_app.h"

#include "libs/bus/data_pipe.h"
#include "libs/ipn/netip.h"
#include "libs/log/log.h"
#include "libs/service/follow.h"
#include "schemas/common.capnp.h"
#include "schemas/netstackd.capnp.h"
#include "services/netstackd/app/netstack.h"

namespace tnet::netstackd {

namespace {

using netstack::Addr;

bool generationNewer(uint64_t epoch, uint64_t n, uint64_t curEpoch, uint64_t curN, bool haveCurrent) {
  if (!haveCurrent) return true;
  if (epoch != curEpoch) return epoch > curEpoch;
  return n > curN;
}

Result<Addr> prefixAddr(std::string_view text) {
  auto p = ipn::parseIpPrefix(text);
  if (!p) {
    auto a = ipn::parseIpAddr(text);
    if (!a) return p.error();
    return netstack::parseAddr(text);
  }
  return netstack::parseAddr(p->addr.toString());
}

class NetstackdApp {
 public:
  NetstackdApp(service::Service& svc, const Flags& flags) : svc_(svc), flags_(flags) {}

  Result<void> start() {
    auto& bus = svc_.bus();
    const auto backend = bus::defaultPipeBackend();
    TNET_TRY(toWgd_, bus::openPipeSender(bus, backend, "wgd"));
    engine_ = std::make_unique<netstack::Engine>(svc_.loop(),
                                                 [this](std::span<const uint8_t> p) { toWgd_->push(p); });
    engine_->setFlushHook([this] { toWgd_->flush(); });
    TNET_TRY(fromWgd_, bus::openPipeReceiver(bus, backend, "wgd",
                                             [this](std::span<const std::span<const uint8_t>> batch) {
                                               for (auto p : batch) engine_->fromTunnel(p);
                                               engine_->afterWork();
                                             }));
    if (!flags_.socks5Server.empty()) {
      TNET_TRY_VOID(engine_->listenSocks5(flags_.socks5Server));
      svc_.log().info("socks5.listening addr={}", engine_->socks5Address());
    }
    if (!flags_.httpProxyListen.empty()) {
      TNET_TRY_VOID(engine_->listenHttp(flags_.httpProxyListen));
      svc_.log().info("http_proxy.listening addr={}", engine_->httpAddress());
    }
    bus.serve("netstackd.setConfig", [this](bus::Request req) { setConfig(req); });
    service::followLogged(svc_, {"ipnd.state"});
    statsTimer_ = svc_.loop().every(std::chrono::seconds(30), [this] { logStats(); });
    updateHealth();
    return {};
  }

  void stop() { engine_.reset(); }

 private:
  void setConfig(bus::Request req) {
    auto cfg = req.params<schema::NetstackConfig>();
    const uint64_t epoch = cfg.getGeneration().getEpoch(), n = cfg.getGeneration().getN();
    if (generationNewer(epoch, n, genEpoch_, genN_, haveGeneration_)) {
      netstack::EngineConfig ec;
      for (auto a : cfg.getAddresses()) {
        auto addr = prefixAddr(a.cStr());
        if (!addr) return req.fail(Error::invalid("setConfig: address: " + addr.error().message));
        if (addr->v6 && !ec.v6) ec.v6 = *addr;
        if (!addr->v6 && !ec.v4) ec.v4 = *addr;
      }
      ec.filterKnown = cfg.getPacketFilterKnown();
      for (auto r : cfg.getPacketFilter()) {
        netstack::FilterRuleSpec spec;
        for (auto s : r.getSrcIps()) spec.srcIps.emplace_back(s.cStr());
        for (auto d : r.getDstPorts())
          spec.dstPorts.push_back({d.getIp().cStr(), d.getBits(), d.getFirst(), d.getLast()});
        for (auto p : r.getIpProto()) spec.ipProto.push_back(p);
        if (spec.dstPorts.empty()) continue;  // CapGrant-only rules grant capabilities, not packets
        ec.rules.push_back(std::move(spec));
      }
      ec.shieldsUp = cfg.getShieldsUp();
      std::string suffix = cfg.getMagicDnsSuffix().cStr();
      for (auto name : cfg.getDnsNames()) {
        std::vector<Addr> addrs;
        for (auto a : name.getAddresses())
          if (auto addr = prefixAddr(a.cStr())) addrs.push_back(*addr);
        ec.names.add(name.getName().cStr(), std::move(addrs), suffix);
      }
      std::vector<std::string> errors;
      size_t rules = ec.rules.size(), names = ec.names.size();
      bool shields = ec.shieldsUp;
      engine_->configure(std::move(ec), &errors);
      for (const auto& e : errors) svc_.log().warn("filter.rule_skipped error={}", log::quote(e));
      genEpoch_ = epoch;
      genN_ = n;
      haveGeneration_ = true;
      svc_.log().info("config.applied epoch={} n={} rules={} names={} shields_up={}", epoch, n, rules, names,
                      shields);
      updateHealth();
    }
    req.reply([&](capnp::AnyPointer::Builder b) {
      auto g = b.initAs<schema::ConfigAck>().initApplied();
      g.setEpoch(genEpoch_);
      g.setN(genN_);
    });
  }

  void updateHealth() {
    if (!haveGeneration_) return svc_.setHealth(service::HealthState::OK, "waiting for configuration");
    if (!engine_->hasAddresses()) return svc_.setHealth(service::HealthState::OK, "no tailnet addresses");
    svc_.setHealth(service::HealthState::OK, "running");
  }

  void logStats() {
    const auto& s = engine_->stats();
    svc_.log().debug(
        "stats from_wgd={} to_wgd={} filtered={} malformed={} conns={} inbound_tcp={} refused_limit={}",
        s.fromTunnel, s.toTunnel, s.filtered, s.malformed, engine_->connectionCount(), s.inboundTcp,
        s.refusedLimit);
  }

  service::Service& svc_;
  Flags flags_;
  std::unique_ptr<bus::PipeSender> toWgd_;
  std::unique_ptr<bus::PipeReceiver> fromWgd_;
  std::unique_ptr<netstack::Engine> engine_;
  bus::Handle statsTimer_;
  uint64_t genEpoch_ = 0, genN_ = 0;
  bool haveGeneration_ = false;
};

}  // namespace

Result<std::shared_ptr<void>> startApp(service::Service& service, const Flags& flags) {
  auto app = std::make_shared<NetstackdApp>(service, flags);
  TNET_TRY_VOID(app->start());
  NetstackdApp* raw = app.get();
  service.onShutdown([raw] { raw->stop(); });
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::netstackd
