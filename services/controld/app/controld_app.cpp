#include "services/controld/app/controld_app.h"

#include <capnp/message.h>

#include <cstdlib>

#include "libs/log/log.h"
#include "libs/service/follow.h"
#include "schemas/common.capnp.h"
#include "schemas/controld.capnp.h"
#include "schemas/netmap.capnp.h"
#include "services/controld/app/control_client.h"
#include "services/controld/app/machine_key.h"
#include "services/controld/app/netmap_capnp.h"

namespace tnet::controld {

namespace {

schema::ControlStatus::Phase toSchema(Phase p) {
  switch (p) {
    case Phase::IDLE: return schema::ControlStatus::Phase::IDLE;
    case Phase::REGISTERING: return schema::ControlStatus::Phase::REGISTERING;
    case Phase::WAITING_FOR_AUTH: return schema::ControlStatus::Phase::WAITING_FOR_AUTH;
    case Phase::LOGGED_IN: return schema::ControlStatus::Phase::LOGGED_IN;
    case Phase::MAP_POLLING: return schema::ControlStatus::Phase::MAP_POLLING;
    case Phase::RECONNECTING: return schema::ControlStatus::Phase::RECONNECTING;
  }
  return schema::ControlStatus::Phase::IDLE;
}

void fillStatus(schema::ControlStatus::Builder out, const ControlStatusValue& s) {
  out.setPhase(toSchema(s.phase));
  out.setControlUrl(s.controlUrl);
  out.setAuthUrl(s.authUrl);
  out.setLoggedInNodePublic(s.loggedInNodePublic);
  out.setLoginFinishedCount(s.loginFinishedCount);
  out.setMachineAuthorized(s.machineAuthorized);
  out.setNodeKeyExpired(s.nodeKeyExpired);
  out.setLastError(s.lastError);
  out.setMapConnected(s.mapConnected);
  out.setMachinePublic(s.machinePublic);
  out.setLoginName(s.loginName);
  out.setUserId(s.userId);
}

template <typename K>
Result<K> optionalKey(capnp::Text::Reader text, std::string_view field) {
  if (text.size() == 0) return K{};
  auto k = K::parse(std::string_view(text.cStr(), text.size()));
  if (!k) return Error::invalid(std::string(field) + ": " + k.error().message);
  return *k;
}

std::string dataText(capnp::Data::Reader d) { return std::string(reinterpret_cast<const char*>(d.begin()), d.size()); }

struct ControldApp {
  explicit ControldApp(service::Service& svc) : svc(svc) {}
  service::Service& svc;
  std::unique_ptr<ControlClient> client;

  void publishStatus(const ControlStatusValue& s) {
    svc.bus().publish("controld.status",
                      [&](capnp::AnyPointer::Builder b) { fillStatus(b.initAs<schema::ControlStatus>(), s); });
  }

  void publishNetmap(const NetworkMap& nm, uint64_t generation) {
    svc.bus().publish("controld.netmap", [&](capnp::AnyPointer::Builder b) {
      auto out = b.initAs<schema::Netmap>();
      fillNetmap(out, nm);
      out.setGeneration(generation);  // ours rises across map sessions; the session's restarts at 1
    });
  }

  void serveLogin(bus::Request req) {
    auto p = req.params<schema::LoginParams>();
    LoginInput in;
    in.controlUrl = p.getControlUrl();
    auto node = optionalKey<key::NodePublic>(p.getNodePublic(), "nodePublic");
    if (!node) return req.fail(node.error());
    auto old = optionalKey<key::NodePublic>(p.getOldNodePublic(), "oldNodePublic");
    if (!old) return req.fail(old.error());
    in.nodePublic = *node;
    in.oldNodePublic = *old;
    in.authKey = crypto::SecretString(std::string(p.getAuthKey().cStr(), p.getAuthKey().size()));
    in.interactive = p.getInteractive();
    in.hostinfoJson = dataText(p.getHostinfoJson());
    in.ephemeral = p.getEphemeral();
    for (auto t : p.getTags()) in.tags.emplace_back(t.cStr(), t.size());
    client->login(std::move(in), [req](Result<LoginResult> r) mutable {
      if (!r) return req.fail(r.error());
      req.reply([&](capnp::AnyPointer::Builder b) {
        auto out = b.initAs<schema::LoginReply>();
        out.setAuthUrl(r->authUrl);
        out.setRegistered(r->registered);
        out.setMachineAuthorized(r->machineAuthorized);
        out.setNodeKeyExpired(r->nodeKeyExpired);
        out.setLoginName(r->loginName);
        out.setUserId(r->userId);
        out.setError(r->error);
      });
    });
  }

  void serveLogout(bus::Request req) {
    auto p = req.params<schema::LogoutParams>();
    auto node = optionalKey<key::NodePublic>(p.getNodePublic(), "nodePublic");
    if (!node) return req.fail(node.error());
    client->logout(p.getControlUrl(), *node, [req](Result<void> r) mutable {
      if (!r) return req.fail(r.error());
      req.replyEmpty();
    });
  }

  void serveSetConfig(bus::Request req) {
    auto p = req.params<schema::ControlConfig>();
    ConfigInput c;
    c.generationEpoch = p.getGeneration().getEpoch();
    c.generationN = p.getGeneration().getN();
    c.controlUrl = p.getControlUrl();
    c.wantRunning = p.getWantRunning();
    auto node = optionalKey<key::NodePublic>(p.getNodePublic(), "nodePublic");
    if (!node) return req.fail(node.error());
    auto disco = optionalKey<key::DiscoPublic>(p.getDiscoPublic(), "discoPublic");
    if (!disco) return req.fail(disco.error());
    c.nodePublic = *node;
    c.discoPublic = *disco;
    c.hostinfoJson = dataText(p.getHostinfoJson());
    for (auto ep : p.getEndpoints()) {
      auto addr = ipn::parseIpAddrPort(std::string_view(ep.getAddr().cStr(), ep.getAddr().size()));
      if (!addr) return req.fail(Error::invalid("endpoints: " + addr.error().message));
      if (ep.getType() > static_cast<uint8_t>(EndpointType::EXPLICITCONF)) {
        return req.fail(Error::invalid("endpoints: unknown endpoint type " + std::to_string(ep.getType())));
      }
      c.endpoints.push_back(*addr);
      c.endpointTypes.push_back(static_cast<EndpointType>(ep.getType()));
    }
    c.preferredDerp = p.getPreferredDerp();
    c.netInfoJson = dataText(p.getNetInfoJson());
    auto applied = client->setConfig(std::move(c));
    if (!applied) return req.fail(applied.error());
    req.reply([&](capnp::AnyPointer::Builder b) {
      auto ack = b.initAs<schema::ConfigAck>().initApplied();
      ack.setEpoch(applied->first);
      ack.setN(applied->second);
    });
  }
};

}  // namespace

Result<std::shared_ptr<void>> startApp(service::Service& service, const AppOptions& options) {
  // Before the key exists in this process: no core dumps, no same-uid ptrace.
  TNET_TRY_VOID(hardenForKeys());
  auto machineKey = loadOrCreateMachineKey(service.options().stateDir);
  if (!machineKey) return Error::failed("machine key: " + machineKey.error().message);

  auto app = std::make_shared<ControldApp>(service);
  ControlClientOptions opts;
  opts.mapSilenceTimeout = std::chrono::milliseconds(static_cast<int64_t>(options.mapSilenceTimeoutSeconds * 1000));
  ControldApp* raw = app.get();
  ControlClientSink sink;
  sink.onStatus = [raw](const ControlStatusValue& s) { raw->publishStatus(s); };
  sink.onNetmap = [raw](const NetworkMap& nm, uint64_t generation) { raw->publishNetmap(nm, generation); };
  sink.onHealth = [raw](ClientHealth h, const std::string& message) {
    raw->svc.setHealth(h == ClientHealth::OK ? service::HealthState::OK : service::HealthState::DEGRADED, message);
  };
  app->client = std::make_unique<ControlClient>(service.loop(), std::move(*machineKey), opts, std::move(sink));
  log::logger().info("controld.machine_key public={}", app->client->status().machinePublic);

  auto& bus = service.bus();
  bus.serve("controld.login", [raw](bus::Request req) { raw->serveLogin(std::move(req)); });
  bus.serve("controld.logout", [raw](bus::Request req) { raw->serveLogout(std::move(req)); });
  bus.serve("controld.setConfig", [raw](bus::Request req) { raw->serveSetConfig(std::move(req)); });
  service::followLogged(service, {"ipnd.state"});

  raw->publishStatus(app->client->status());
  service.setHealth(service::HealthState::OK, "waiting for configuration");
  service.onShutdown([raw] { raw->client.reset(); });
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::controld
