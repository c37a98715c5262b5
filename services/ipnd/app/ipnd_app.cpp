#include "services/ipnd/app/ipnd_app.h"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
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
#include "services/ipnd/app/prefs_store.h"
#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {

namespace {

constexpr const char* OTHER_SERVICES[] = {"apid", "controld", "wgd", "magicsockd", "netstackd"};

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
ServiceHealth selfHealth(bool storeUsable) {
  ServiceHealth h;
  h.service = "ipnd";
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
  App(service::Service& svc, BackendOptions opts) : svc_(svc), backend_(std::move(opts)) {}

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
    backend_.updateServiceHealth(selfHealth(storeUsable_));

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
    flush();
    svc_.setHealth(storeUsable_ ? service::HealthState::OK : service::HealthState::DEGRADED,
                   storeUsable_ ? "running" : "state store unhealthy");
    return {};
  }

 private:
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
    LocalApiResponse out = backend_.handleLocalApi(r, nowUnixMs());
    svc_.log().debug("localapi method={} path={} status={} uid={}", r.method, r.path, out.status,
                     r.callerUid);
    req.reply([&](capnp::AnyPointer::Builder b) {
      auto reply = b.initAs<schema::LocalApiReply>();
      reply.setStatus(out.status);
      reply.setContentType(out.contentType);
      reply.setBody(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(out.body.data()), out.body.size()));
      reply.setNotifySeq(out.notifySeq);
    });
    flush();
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
      // No control client exists in this build yet: the request is recorded, never sent, and the
      // state stays where Go's rules put a node whose control server is unreachable.
      svc_.log().info("control.request kind={} control_url={} sent=false reason=no_control_client",
                      controlKindName(c.kind), c.controlUrl);
    }
  }

  service::Service& svc_;
  Backend backend_;
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
  auto app = std::make_shared<App>(svc, std::move(bo));
  TNET_TRY_VOID(app->init(options));
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::ipnd
