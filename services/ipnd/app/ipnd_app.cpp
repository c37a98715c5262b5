#include "services/ipnd/app/ipnd_app.h"

#include <malloc.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <ctime>

#include "libs/base/bytes.h"
#include "libs/base/fd_read.h"
#include "libs/bus/bus.h"
#include "libs/ipn/config_valpha.h"
#include "libs/log/log.h"
#include "libs/sandbox/isolation.h"
#include "schemas/common.capnp.h"
#include "schemas/ipnd.capnp.h"
#include "schemas/wgd.capnp.h"
#include "services/ipnd/app/capnp_facts.h"
#include "services/ipnd/app/config_build.h"
#include "services/ipnd/app/prefs_store.h"
#include "services/ipnd/core/backend.h"
#include "services/ipnd/core/peer_query.h"

namespace tnet::ipnd {

namespace {

constexpr const char* OTHER_SERVICES[] = {"apid", "controld", "wgd", "magicsockd", "netstackd"};
// Config pushes go in this order (docs/contracts.md §Service interfaces).
constexpr const char* PUSH_ORDER[] = {"wgd", "magicsockd", "netstackd", "controld"};

using namespace std::chrono_literals;
constexpr auto KEY_CALL_TIMEOUT = 5s;      // wgd's key operations are local and quick
constexpr auto LOGIN_CALL_TIMEOUT = 60s;   // controld answers once control answered the register
constexpr auto CONFIG_CALL_TIMEOUT = 3s;
// magicsockd gives up on a disco ping after 5s and a netcheck takes a few seconds; both stay
// under apid's wait for ipnd (services/apid/core/limits.h) so the caller gets our answer.
constexpr auto MAGICSOCK_QUERY_TIMEOUT = 8s;

std::string_view keyStepName(KeyStep::Kind k) {
  switch (k) {
    case KeyStep::Kind::PREPARE_KEY:
      return "wgd.prepareNodeKey";
    case KeyStep::Kind::LOGIN:
      return "controld.login";
    case KeyStep::Kind::COMMIT_KEY:
      return "wgd.commitNodeKey";
    case KeyStep::Kind::DISCARD_PENDING:
      return "wgd.discardPendingKey";
    case KeyStep::Kind::LOGOUT:
      return "controld.logout";
  }
  return "unknown";
}

capnp::Data::Reader dataOf(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

// A copy of a retained event's value, kept until the next one.
template <typename T>
class Kept {
 public:
  void set(typename T::Reader r) {
    msg_ = std::make_unique<capnp::MallocMessageBuilder>();
    msg_->setRoot(r);
  }
  void reset() { msg_.reset(); }
  std::optional<typename T::Reader> get() const {
    if (!msg_) return std::nullopt;
    return msg_->getRoot<T>().asReader();
  }

 private:
  std::unique_ptr<capnp::MallocMessageBuilder> msg_;
};

int64_t nowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string randomHex16() {
  uint8_t b[8];
  if (::getrandom(b, sizeof b, 0) != ssize_t(sizeof b)) return "0000000000000000";
  return hexEncode(b);
}

std::string osHostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

std::optional<std::string> userName(uint32_t uid) {
  struct passwd pw {};
  struct passwd* out = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &out) != 0 || out == nullptr) return std::nullopt;
  return std::string(out->pw_name);
}

std::string_view controlKindName(ControlRequest::Kind k) {
  switch (k) {
    case ControlRequest::Kind::START:
      return "start";
    case ControlRequest::Kind::LOGIN:
      return "login";
    case ControlRequest::Kind::LOGIN_INTERACTIVE:
      return "login-interactive";
    case ControlRequest::Kind::LOGOUT:
      return "logout";
  }
  return "unknown";
}

std::string_view healthStateName(schema::Health::State s) {
  switch (s) {
    case schema::Health::State::STARTING:
      return "starting";
    case schema::Health::State::OK:
      return "ok";
    case schema::Health::State::DEGRADED:
      return "degraded";
    case schema::Health::State::FAILED:
      return "failed";
  }
  return "unknown";
}

ipn::OrderedJson isolationToJson(schema::Health::Reader h) {
  if (!h.hasIsolation()) return nullptr;
  auto f = h.getIsolation();
  ipn::OrderedJson o = ipn::OrderedJson::object();
  o["Pid"] = f.getPid();
  o["Uid"] = f.getUid();
  o["Gid"] = f.getGid();
  o["NoNewPrivs"] = f.getNoNewPrivs();
  o["CapEff"] = f.getCapEff();
  o["CapBnd"] = f.getCapBnd();
  o["SeccompMode"] = f.getSeccompMode();
  o["NetnsInode"] = f.getNetnsInode();
  ipn::OrderedJson ifs = ipn::OrderedJson::array();
  for (auto name : f.getNonLoopbackInterfaces()) ifs.push_back(std::string(name.cStr()));
  o["NonLoopbackInterfaces"] = std::move(ifs);
  if (h.hasIsolationError() && h.getIsolationError().size() > 0) {
    o["Error"] = std::string(h.getIsolationError().cStr());
  }
  return o;
}

// ipnd's own entry in the health cache: it does not subscribe to itself.
ServiceHealth selfHealth(bool storeUsable, const service::RestartFacts& restart) {
  ServiceHealth h;
  h.service = "ipnd";
  h.restarts = restart.restarts;
  h.lastExit = restart.lastExit;
  h.lastExitUnixMs = restart.lastExitUnixMs;
  h.state = storeUsable ? "ok" : "degraded";
  h.message = storeUsable ? "running" : "state store unhealthy";
  h.receivedAtUnixMs = nowUnixMs();
  auto facts = sandbox::readIsolationFacts(0);
  if (!facts) {
    h.isolation = ipn::OrderedJson{{"Error", facts.error().message}};
    return h;
  }
  ipn::OrderedJson o = ipn::OrderedJson::object();
  o["Pid"] = facts->pid;
  o["Uid"] = facts->uid;
  o["Gid"] = facts->gid;
  o["NoNewPrivs"] = facts->noNewPrivs;
  o["CapEff"] = facts->capEff;
  o["CapBnd"] = facts->capBnd;
  o["SeccompMode"] = facts->seccompMode;
  o["NetnsInode"] = facts->netnsInode;
  o["NonLoopbackInterfaces"] = facts->nonLoopbackInterfaces;
  h.isolation = std::move(o);
  return h;
}

// Everything the process owns; lives until shutdown.
class App {
 public:
  App(service::Service& svc, BackendOptions opts) : svc_(svc), osHostname_(opts.osHostname), backend_(std::move(opts)) {
    backend_.setHealthClock(nowUnixMs);
    struct utsname u {};
    if (::uname(&u) == 0) {
      osVersion_ = u.release;
      machine_ = u.machine;
    }
  }

  Result<void> init(const AppOptions& options) {
    const std::string& stateDir = svc_.options().stateDir;
    PrefsLoad load = loadPrefsFile(stateDir, std::time(nullptr));
    if (load.unhealthy) {
      svc_.log().error("prefs.unusable err={}", log::quote(*load.unhealthy));
      backend_.setStoreUnhealthy(*load.unhealthy);
      storeUsable_ = false;
    } else {
      backend_.loadPrefs(std::move(load.file));
      if (load.health) {
        svc_.log().warn("prefs.corrupt {}", log::quote(*load.health));
        backend_.addStartupHealth(*load.health);
      }
    }
    if (options.configFd >= 0) {
      TNET_TRY(std::string text, readConfigFd(options.configFd));
      auto config = ipn::parseConfigVAlpha(text);
      if (!config) return Error::invalid("--config-fd: " + config.error().message);
      TNET_TRY_VOID(backend_.applyConfig(*config));
      svc_.log().info("config.applied locked={}", config->isLocked());
    }
    backend_.startAtBoot();
    backend_.updateServiceHealth(selfHealth(storeUsable_, svc_.restartFacts()));
    // The service runtime installs the seccomp filter after start() returns, before the loop
    // runs: read our own isolation facts again once the loop is running, so they show it.
    svc_.loop().post([this] { backend_.updateServiceHealth(selfHealth(storeUsable_, svc_.restartFacts())); });

    auto& bus = svc_.bus();
    bus.serve("ipnd.localapi", [this](bus::Request req) { onLocalApi(std::move(req)); });
    for (const char* other : OTHER_SERVICES) {
      bus.subscribe(std::string(other) + ".health", [this](const bus::Event& ev) {
        auto h = ev.as<schema::Health>();
        ServiceHealth sh;
        sh.service = h.getService().cStr();
        sh.state = std::string(healthStateName(h.getState()));
        sh.message = h.getMessage().cStr();
        sh.isolation = isolationToJson(h);
        sh.epoch = h.getEpoch();
        sh.receivedAtUnixMs = nowUnixMs();
        sh.restarts = h.getRestarts();
        sh.lastExit = h.getLastExit().cStr();
        sh.lastExitUnixMs = h.getLastExitUnixMs();
        if (sh.service.empty()) sh.service = std::string(ev.topic.substr(0, ev.topic.find('.')));
        backend_.updateServiceHealth(std::move(sh));
        flush();
      });
    }
    for (const char* other : OTHER_SERVICES) {
      bus.subscribe(std::string(other) + ".violation", [this](const bus::Event& ev) {
        if (ev.fromSnapshot) return;  // not retained; nothing to replay
        auto v = ev.as<schema::Violation>();
        std::string service(ev.topic.substr(0, ev.topic.find('.')));
        Violation rec{v.getCaller().cStr(), v.getUid(), v.getPid(), v.getMethod().cStr()};
        if (violationLog_.allow()) {
          svc_.log().warn("violation service={} caller={} uid={} method={} suppressed={}", service,
                          log::quote(rec.caller), rec.uid, log::quote(rec.method),
                          violationLog_.takeSuppressed());
        }
        backend_.recordViolation(service, std::move(rec));
        flush();
      });
    }
    subscribeServices();
    flush();
    svc_.setHealth(storeUsable_ ? service::HealthState::OK : service::HealthState::DEGRADED,
                   storeUsable_ ? "running" : "state store unhealthy");
    return {};
  }

 private:
  // A malformed message from another service must not take ipnd down: it is logged and
  // ignored (the loop aborts on escaped exceptions).
  template <typename Fn>
  void guarded(std::string_view what, Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      svc_.log().warn("bus.bad_message what={} err={}", what, log::quote(e.what()));
    }
  }

  void subscribeServices() {
    auto& bus = svc_.bus();
    bus.subscribe("controld.netmap", [this](const bus::Event& ev) {
      guarded("controld.netmap", [&] {
        auto nm = ev.as<schema::Netmap>();
        netmap_.set(nm);
        backend_.onNetmap(netmapFacts(nm, std::time(nullptr)));
        svc_.log().debug("netmap generation={} peers={}", nm.getGeneration(), nm.getPeers().size());
      });
      flush();
      trimHeapAfter(ev.as<schema::Netmap>().getPeers().size() * 2048);
    });
    bus.subscribe("controld.status", [this](const bus::Event& ev) {
      guarded("controld.status", [&] {
        backend_.onControlStatus(controlStatusFacts(ev.as<schema::ControlStatus>(), ev.epoch), nowUnixMs());
      });
      flush();
    });
    bus.subscribe("wgd.peers", [this](const bus::Event& ev) {
      guarded("wgd.peers", [&] {
        wgPeersEpoch_ = ev.epoch;
        auto u = wgPeersUpdate(ev.as<schema::WgPeers>());
        backend_.onWgPeers(u.full || ev.fromSnapshot, u.changed, u.removed);
      });
      flush();
    });
    bus.subscribe("wgd.nodekey", [this](const bus::Event& ev) {
      guarded("wgd.nodekey", [&] {
        std::string current = ev.as<schema::NodeKeyState>().getCurrent().cStr();
        const auto& ours = backend_.nodePublicKey();
        std::optional<std::string> problem;
        if (ours && !current.empty() && current != *ours) {
          problem = "wgd holds node key " + current + ", not the registered " + *ours;
        }
        backend_.setServiceProblem("wgd-nodekey", problem);
      });
      flush();
    });
    bus.subscribe("magicsockd.discokey", [this](const bus::Event& ev) {
      discoEpoch_ = ev.epoch;
      guarded("magicsockd.discokey",
              [&] { backend_.onDiscoKey(ev.as<schema::DiscoKey>().getDiscoPublic().cStr()); });
      flush();
    });
    bus.subscribe("magicsockd.derp", [this](const bus::Event& ev) {
      guarded("magicsockd.derp", [&] {
        derpEpoch_ = ev.epoch;
        auto d = ev.as<schema::DerpState>();
        derp_.set(d);
        backend_.onDerp(derpFacts(d));
      });
      flush();
    });
    bus.subscribe("magicsockd.paths", [this](const bus::Event& ev) {
      pathsEpoch_ = ev.epoch;
      guarded("magicsockd.paths", [&] { backend_.onPaths(pathFacts(ev.as<schema::Paths>())); });
      flush();
    });
    // Go re-checks the self key expiry on a timer; so do we, against the kept netmap.
    expiryTimer_ = bus.loop().every(std::chrono::seconds(10), [this] {
      auto nm = netmap_.get();
      if (!nm || !backend_.netmap()) return;
      bool expired = false;
      guarded("netmap expiry", [&] {
        expired = netmapFacts(*nm, std::time(nullptr)).keyExpired;
        if (expired != backend_.netmap()->keyExpired) backend_.onNetmap(netmapFacts(*nm, std::time(nullptr)));
      });
      flush();
    });
    // "<svc>: restarted ..." health notes age out without any event: tell watchers when.
    healthNoteTimer_ = bus.loop().every(std::chrono::seconds(10), [this] {
      guarded("health notes", [&] { backend_.expireHealthNotes(); });
      flush();
    });
    // A (re)started service lost its config: push the latest generation again.
    for (const char* svc : PUSH_ORDER) {
      bus.onPeerEpoch(svc, [this, svc = std::string(svc)](uint64_t epoch) {
        svc_.log().info("peer.epoch service={} epoch={}", svc, epoch);
        // The snapshot's values (delivered just before this) are the new process's; anything
        // it did not publish yet belonged to the old one and is gone with it.
        if (svc == "magicsockd") {
          if (derpEpoch_ != epoch) {
            derp_.reset();
            backend_.onDerp(std::nullopt);
          }
          if (pathsEpoch_ != epoch) backend_.onPaths({});
          if (discoEpoch_ != epoch) backend_.onDiscoKey("");
        }
        if (svc == "wgd" && wgPeersEpoch_ != epoch) backend_.onWgPeers(true, {}, {});
        schedulePush();
        flush();
      });
    }
  }

  // ---- the node-key lifecycle on the bus ----
  void runKeyStep(const KeyStep& step) {
    auto& bus = svc_.bus();
    const uint64_t attempt = step.attempt;
    const KeyStep::Kind kind = step.kind;
    svc_.log().info("key.step step={} attempt={} node_key={} old_node_key={} interactive={} auth_key={}",
                    keyStepName(kind), attempt, step.nodePublic, step.oldNodePublic, step.interactive,
                    step.authKey.empty() ? "none" : "given");
    auto failed = [this, attempt, kind](const Error& e) {
      svc_.log().warn("key.step_failed step={} attempt={} err={}", keyStepName(kind), attempt, log::quote(e.message));
      backend_.onKeyStepFailed(attempt, kind, e.message);
    };
    switch (kind) {
      case KeyStep::Kind::PREPARE_KEY:
        bus.call(
            "wgd", "wgd.prepareNodeKey", [](capnp::AnyPointer::Builder b) { b.initAs<schema::Empty>(); },
            KEY_CALL_TIMEOUT, [this, attempt, failed](Result<bus::Reply> r) {
              if (!r) {
                failed(r.error());
              } else {
                guarded("wgd.prepareNodeKey reply", [&] {
                  backend_.onKeyPrepared(attempt, r->as<schema::NodeKey>().getNodePublic().cStr());
                });
              }
              flush();
            });
        return;
      case KeyStep::Kind::LOGIN: {
        ConfigSources src = configSources();
        std::string hi = hostinfoJson(src);
        bus.call(
            "controld", "controld.login",
            [&](capnp::AnyPointer::Builder b) {
              auto p = b.initAs<schema::LoginParams>();
              p.setControlUrl(step.controlUrl);
              p.setAuthKey(step.authKey);
              p.setNodePublic(step.nodePublic);
              p.setOldNodePublic(step.oldNodePublic);
              p.setInteractive(step.interactive);
              p.setHostinfoJson(dataOf(hi));
              const auto& tags = backend_.prefs().advertiseTags;
              if (tags) {
                auto l = p.initTags(unsigned(tags->size()));
                for (unsigned i = 0; i < tags->size(); ++i) l.set(i, (*tags)[i]);
              }
            },
            LOGIN_CALL_TIMEOUT, [this, attempt, failed](Result<bus::Reply> r) {
              if (!r) {
                failed(r.error());
              } else {
                guarded("controld.login reply", [&] {
                  auto rep = r->as<schema::LoginReply>();
                  LoginResult lr;
                  lr.authUrl = rep.getAuthUrl().cStr();
                  lr.registered = rep.getRegistered();
                  lr.machineAuthorized = rep.getMachineAuthorized();
                  lr.nodeKeyExpired = rep.getNodeKeyExpired();
                  lr.error = rep.getError().cStr();
                  svc_.log().info("login.reply attempt={} registered={} auth_url={} error={}", attempt,
                                  lr.registered, !lr.authUrl.empty(), log::quote(lr.error));
                  backend_.onLoginReply(attempt, lr, nowUnixMs());
                });
              }
              flush();
            });
        return;
      }
      case KeyStep::Kind::COMMIT_KEY:
        bus.call(
            "wgd", "wgd.commitNodeKey",
            [&](capnp::AnyPointer::Builder b) { b.initAs<schema::NodeKey>().setNodePublic(step.nodePublic); },
            KEY_CALL_TIMEOUT, [this, attempt, failed, key = step.nodePublic](Result<bus::Reply> r) {
              if (!r) {
                failed(r.error());
              } else {
                svc_.log().info("key.committed node_key={}", key);
                backend_.onKeyCommitted(attempt, key);
              }
              flush();
            });
        return;
      case KeyStep::Kind::DISCARD_PENDING:
        bus.call(
            "wgd", "wgd.discardPendingKey", [](capnp::AnyPointer::Builder b) { b.initAs<schema::Empty>(); },
            KEY_CALL_TIMEOUT, [this, failed](Result<bus::Reply> r) {
              if (!r) failed(r.error());
              flush();
            });
        return;
      case KeyStep::Kind::LOGOUT:
        bus.call(
            "controld", "controld.logout",
            [&](capnp::AnyPointer::Builder b) {
              auto p = b.initAs<schema::LogoutParams>();
              p.setControlUrl(step.controlUrl);
              p.setNodePublic(step.nodePublic);
            },
            LOGIN_CALL_TIMEOUT, [this, failed](Result<bus::Reply> r) {
              if (!r) failed(r.error());
              flush();
            });
        return;
    }
  }

  // ---- config pushes: wgd → magicsockd → netstackd → controld, one generation per round ----
  ConfigSources configSources() const {
    return ConfigSources{backend_, netmap_.get(), derp_.get(), osHostname_, osVersion_, machine_};
  }

  void schedulePush() {
    if (pushing_) {
      pushAgain_ = true;
      return;
    }
    pushing_ = true;
    pushAgain_ = false;
    ++generation_;
    pushStep(0);
  }

  void pushStep(size_t i) {
    if (i == std::size(PUSH_ORDER)) {
      pushing_ = false;
      if (pushAgain_) schedulePush();
      return;
    }
    const std::string svc = PUSH_ORDER[i];
    const std::string method = svc + ".setConfig";
    capnp::MallocMessageBuilder genMsg;
    auto gen = genMsg.initRoot<schema::Generation>();
    gen.setEpoch(svc_.bus().epoch());
    gen.setN(generation_);
    ConfigSources src = configSources();
    auto fill = [&](capnp::AnyPointer::Builder b) {
      if (svc == "wgd") buildWgConfig(b.initAs<schema::WgConfig>(), gen.asReader(), src);
      if (svc == "magicsockd") buildMagicsockConfig(b.initAs<schema::MagicsockConfig>(), gen.asReader(), src);
      if (svc == "netstackd") buildNetstackConfig(b.initAs<schema::NetstackConfig>(), gen.asReader(), src);
      if (svc == "controld") buildControlConfig(b.initAs<schema::ControlConfig>(), gen.asReader(), src);
    };
    uint64_t n = generation_;
    svc_.bus().call(svc, method, fill, CONFIG_CALL_TIMEOUT, [this, i, svc, n](Result<bus::Reply> r) {
      if (!r) {
        svc_.log().warn("config.push_failed service={} generation={} err={}", svc, n, log::quote(r.error().message));
        backend_.setServiceProblem(svc, svc + ": config generation " + std::to_string(n) +
                                            " not applied: " + r.error().message);
      } else {
        uint64_t applied = 0;
        guarded("ConfigAck", [&] { applied = r->as<schema::ConfigAck>().getApplied().getN(); });
        svc_.log().debug("config.pushed service={} generation={} acked={}", svc, n, applied);
        backend_.setServiceProblem(svc, std::nullopt);
      }
      pushStep(i + 1);
      flush();
    });
  }

  void onLocalApi(bus::Request req) {
    auto p = req.params<schema::LocalApiRequest>();
    LocalApiRequest r;
    r.method = p.getMethod().cStr();
    r.path = p.getPath().cStr();
    r.query = p.getQuery().cStr();
    auto body = p.getBody();
    r.body.assign(reinterpret_cast<const char*>(body.begin()), body.size());
    r.callerUid = p.getCallerUid();
    r.callerPid = p.getCallerPid();
    r.callerPrivileged = p.getCallerPrivileged();
    r.needsWrite = p.getNeedsWrite();
    if (!backend_.prefs().operatorUser.empty()) r.callerUserName = userName(r.callerUid);
    // The endpoints answered by asking magicsockd reply later, from the call's callback.
    if (r.path == "/localapi/v0/ping") return startPing(std::move(req), r);
    if (r.path == "/localapi/v0/tailnetd/netcheck") return startNetcheck(std::move(req), r);
    LocalApiResponse out = backend_.handleLocalApi(r, nowUnixMs());
    replyLocalApi(req, r, out);
    flush();
    trimHeapAfter(out.body.size());
  }

  // After building and freeing something big (a status of thousands of peers, the facts and
  // config pushes of a large netmap), hand the freed pages back to the kernel: glibc keeps the
  // high-water mark otherwise (seen: ipnd at 320 MB PSS after a 10k-peer status, 70 MB before).
  static void trimHeapAfter(size_t approxBytes) {
    if (approxBytes >= TRIM_THRESHOLD_BYTES) malloc_trim(0);
  }
  static constexpr size_t TRIM_THRESHOLD_BYTES = size_t(1) << 20;

  void replyLocalApi(bus::Request& req, const LocalApiRequest& r, const LocalApiResponse& out) {
    svc_.log().debug("localapi method={} path={} status={} uid={}", r.method, r.path, out.status,
                     r.callerUid);
    if (req.replied()) return;
    req.reply([&](capnp::AnyPointer::Builder b) {
      auto reply = b.initAs<schema::LocalApiReply>();
      reply.setStatus(out.status);
      reply.setContentType(out.contentType);
      reply.setBody(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(out.body.data()), out.body.size()));
      reply.setNotifySeq(out.notifySeq);
    });
  }

  // How long a magicsockd query may take: ours, cut to what apid still waits for.
  std::chrono::milliseconds magicsockTimeout(const bus::Request& req) const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(req.deadline() - bus::Loop::Clock::now());
    auto t = std::min<std::chrono::milliseconds>(MAGICSOCK_QUERY_TIMEOUT, left - 200ms);
    return std::max<std::chrono::milliseconds>(t, 100ms);
  }

  void startPing(bus::Request req, const LocalApiRequest& r) {
    PingDecision d = decidePing(r, backend_.netmap());
    if (d.answer) {
      replyLocalApi(req, r, *d.answer);
      return;
    }
    if (d.plan.type != PingType::DISCO) return startWgdPing(std::move(req), r, std::move(d.plan));
    svc_.log().info("ping.start ip={} node_key={}", d.plan.partial.ip, d.plan.nodePublic);
    auto timeout = magicsockTimeout(req);
    svc_.bus().call(
        "magicsockd", "magicsockd.ping",
        [&](capnp::AnyPointer::Builder b) {
          auto p = b.initAs<schema::PingParams>();
          p.setNodePublic(d.plan.nodePublic);
          p.setIp(d.plan.partial.ip);
        },
        timeout, [this, req, r, result = d.plan.partial](Result<bus::Reply> rep) mutable {
          if (!rep) {
            result.err = rep.error().message;
          } else {
            guarded("magicsockd.ping reply", [&] {
              auto p = rep->as<schema::PingReply>();
              result.err = p.getErr().cStr();
              if (result.err.empty()) {
                result.latencySeconds = double(p.getLatencyNs()) / 1e9;
                result.endpoint = p.getEndpoint().cStr();
                result.derpRegionId = p.getDerpRegionId();
                result.derpRegionCode = p.getDerpRegionCode().cStr();
              }
            });
          }
          svc_.log().info("ping.done ip={} err={} endpoint={} derp={} latency_us={}", result.ip,
                          log::quote(result.err), result.endpoint, result.derpRegionId,
                          int64_t(result.latencySeconds * 1e6));
          replyLocalApi(req, r, pingAnswer(result));
        });
  }

  // TSMP and ICMP pings are wgd's: it builds the packet below netstackd, as Go's engine injects
  // it below its netstack and filter, and answers when the pong / echo reply comes back.
  void startWgdPing(bus::Request req, const LocalApiRequest& r, PingPlan plan) {
    const bool tsmp = plan.type == PingType::TSMP;
    svc_.log().info("ping.start ip={} type={} node_key={}", plan.partial.ip, tsmp ? "TSMP" : "ICMP", plan.nodePublic);
    auto timeout = magicsockTimeout(req);
    // wgd gives up a little before our call does, so its "timeout" is what the caller sees.
    const auto wgdTimeout = std::max<std::chrono::milliseconds>(timeout - 100ms, 50ms);
    const std::string ip = plan.partial.ip;  // `plan` moves into the callback before params are filled
    svc_.bus().call(
        "wgd", "wgd.ping",
        [&](capnp::AnyPointer::Builder b) {
          auto p = b.initAs<schema::WgPingParams>();
          p.setIp(ip);
          p.setKind(tsmp ? schema::WgPingKind::TSMP : schema::WgPingKind::ICMP);
          p.setTimeoutMs(uint32_t(wgdTimeout.count()));
        },
        timeout, [this, req, r, plan = std::move(plan)](Result<bus::Reply> rep) mutable {
          PingResult result = plan.partial;
          if (!rep) {
            result.err = rep.error().message;
          } else {
            guarded("wgd.ping reply", [&] {
              auto p = rep->as<schema::WgPingReply>();
              if (p.getErr().size() > 0) {
                result.err = p.getErr().cStr();
              } else {
                result = pingSucceeded(plan, p.getLatencyNs(), p.getPeerApiPort());
              }
            });
          }
          svc_.log().info("ping.done ip={} err={} peerapi_port={} latency_us={}", result.ip, log::quote(result.err),
                          result.peerApiPort, int64_t(result.latencySeconds * 1e6));
          replyLocalApi(req, r, pingAnswer(result));
        });
  }

  void startNetcheck(bus::Request req, const LocalApiRequest& r) {
    if (r.method != "GET") {
      replyLocalApi(req, r, httpError(405, "unsupported method"));
      return;
    }
    svc_.bus().call(
        "magicsockd", "magicsockd.netcheck", [](capnp::AnyPointer::Builder b) { b.initAs<schema::Empty>(); },
        magicsockTimeout(req), [this, req, r](Result<bus::Reply> rep) mutable {
          if (!rep) {
            replyLocalApi(req, r, httpError(503, "netcheck: " + rep.error().message));
            return;
          }
          LocalApiResponse out = httpError(500, "netcheck: malformed report from magicsockd");
          guarded("magicsockd.netcheck reply", [&] {
            NetcheckFacts f = netcheckFacts(rep->as<schema::NetcheckReport>());
            f.nowUnixNano = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
            out = netcheckAnswer(f, backend_.netmap());
          });
          replyLocalApi(req, r, out);
        });
  }

  // Drains the Backend's outputs: save prefs first (a Notify must never announce prefs that a
  // crash would lose), then publish state and notifies, then control requests.
  void flush() {
    if (backend_.takePrefsDirty() && storeUsable_) {
      auto saved = savePrefsFile(svc_.options().stateDir, backend_.prefsFile());
      if (!saved) {
        svc_.log().error("prefs.save_failed err={}", log::quote(saved.error().message));
        backend_.setPersistError(saved.error().message);
      } else {
        backend_.setPersistError(std::nullopt);
      }
    }
    auto& bus = svc_.bus();
    if (auto sc = backend_.takeStateChange()) {
      svc_.log().info("state.change state={} have_node_key={}", ipn::stateName(sc->state), sc->haveNodeKey);
    }
    // ipnd.state is retained: publish the first value at start (even NoState) and then
    // whenever state, HaveNodeKey or WantRunning changes.
    StateEvent cur{0, backend_.state(), backend_.haveNodeKey(), backend_.prefs().wantRunning};
    if (!published_ || published_->state != cur.state || published_->haveNodeKey != cur.haveNodeKey ||
        published_->wantRunning != cur.wantRunning) {
      cur.seq = published_ ? published_->seq + 1 : 1;
      published_ = cur;
      bus.publish("ipnd.state", [&](capnp::AnyPointer::Builder b) {
        auto s = b.initAs<schema::IpnState>();
        s.setSeq(cur.seq);
        s.setState(uint8_t(cur.state));
        s.setName(std::string(ipn::stateName(cur.state)));
        s.setHaveNodeKey(cur.haveNodeKey);
        s.setWantRunning(cur.wantRunning);
      });
    }
    for (auto& n : backend_.takeNotifies()) {
      bus.publish("ipnd.notify", [&](capnp::AnyPointer::Builder b) {
        auto ev = b.initAs<schema::Notify>();
        ev.setSeq(n.seq);
        ev.setJson(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(n.json.data()), n.json.size()));
      });
    }
    for (auto& c : backend_.takeControlRequests()) {
      svc_.log().info("control.op kind={} control_url={}", controlKindName(c.kind), c.controlUrl);
    }
    for (const auto& step : backend_.takeKeySteps()) runKeyStep(step);
    if (backend_.takeConfigDirty()) schedulePush();
  }

  service::Service& svc_;
  std::string osHostname_;
  std::string osVersion_;
  std::string machine_;
  Backend backend_;
  Kept<schema::Netmap> netmap_;
  Kept<schema::DerpState> derp_;
  bus::Handle expiryTimer_;
  bus::Handle healthNoteTimer_;
  uint64_t derpEpoch_ = 0, pathsEpoch_ = 0, discoEpoch_ = 0, wgPeersEpoch_ = 0;  // magicsockd epoch of each value
  bool pushing_ = false;
  bool pushAgain_ = false;
  uint64_t generation_ = 0;
  bool storeUsable_ = true;
  std::optional<StateEvent> published_;
  log::RateLimiter violationLog_{1.0, 10.0};  // violations are triggered by other processes
};

}  // namespace

Result<std::string> readConfigFd(int fd) {
  auto data = readFdToEnd(fd, 1024 * 1024);
  ::close(fd);
  if (!data) {
    if (data.error().kind == ErrorKind::INVALID) return Error::invalid("--config-fd: config larger than 1 MiB");
    return Error::failed("--config-fd: read: " + data.error().message);
  }
  return data;
}

Result<std::shared_ptr<void>> startApp(service::Service& svc, const AppOptions& options) {
  BackendOptions bo;
  bo.osHostname = osHostname();
  for (const char* s : OTHER_SERVICES) bo.expectedServices.emplace_back(s);
  bo.newSessionId = randomHex16;
  if (const char* url = std::getenv("TS_CONTROL_URL")) bo.envControlUrl = url;
  auto app = std::make_shared<App>(svc, std::move(bo));
  TNET_TRY_VOID(app->init(options));
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::ipnd
