#include "services/ipnd/core/backend.h"

#include "libs/ipn/masked_prefs.h"
#include "libs/ipn/options.h"

namespace tnet::ipnd {

using ipn::State;

Backend::Backend(BackendOptions options) : options_(std::move(options)), health_(options_.expectedServices) {}

// ---------------------------------------------------------------------------------------------
// startup

void Backend::loadPrefs(PrefsFile file) {
  prefs_ = std::move(file.prefs);
  nodePublicKey_ = std::move(file.nodePublicKey);
  if (nodePublicKey_ && !prefs_.persist) prefs_.persist = ipn::Persist{};
}

void Backend::setStoreUnhealthy(std::string reason) {
  storeHealthy_ = false;
  storeError_ = std::move(reason);
  stateMachine();
}

void Backend::addStartupHealth(std::string line) {
  startupHealth_.push_back(std::move(line));
}

Result<void> Backend::applyConfig(const ipn::ConfigVAlpha& config) {
  if (config.authKeyIsFile()) {
    return Error::invalid("config AuthKey still names a file; the supervisor resolves file: keys");
  }
  TNET_TRY(ipn::MaskedPrefs mp, ipn::configToMaskedPrefs(config));
  ipn::Prefs p = prefs_;
  ipn::applyEdits(p, mp);
  config_ = config;
  configAuthKey_ = config.authKey.value_or("");
  config_->authKey.reset();  // the only copy stays in configAuthKey_
  if (!ipn::prefsEqual(p, prefs_)) {
    prefs_ = std::move(p);
    prefsDirty_ = true;
  }
  return {};
}

void Backend::startAtBoot() {
  if (!storeHealthy_) return;
  (void)start(ipn::Options{});
}

// ---------------------------------------------------------------------------------------------
// Go's LocalBackend operations

Result<void> Backend::checkPrefs(const ipn::Prefs& p) const {
  if (config_ && config_->isLocked()) {
    return Error::invalid("can't reconfigure tailscaled when using a config file; config file is locked");
  }
  std::vector<std::string> errs;
  if (p.hostname == "badhostname.tailscale.") errs.push_back("bad hostname [test]");
  if (p.runSsh) errs.push_back("Tailscale SSH is not supported by tailnetd");
  bool usingExitNode = p.exitNodeIp.has_value() || !p.exitNodeId.empty();
  if (usingExitNode && p.advertisesExitNode()) {
    errs.push_back("Cannot advertise an exit node and use an exit node at the same time.");
  }
  if (p.autoUpdate.apply.equalBool(true)) {
    errs.push_back("Auto-updates are not supported on this platform.");
  }
  if (p.advertiseRoutes) {
    for (const auto& r : *p.advertiseRoutes) {
      if (!r.isMasked()) {
        errs.push_back("route " + r.toString() + " has non-address bits set; expected " +
                       r.masked().toString());
      }
    }
  }
  if (errs.empty()) return {};
  std::string joined;
  for (const auto& e : errs) joined += (joined.empty() ? "" : "\n") + e;  // errors.Join
  return Error::invalid(joined);
}

Result<ipn::Prefs> Backend::editPrefs(ipn::MaskedPrefs mp) {
  if (mp.setsInternal()) return Error::invalid("can't set Internal fields");
  // Go's adjustEditPrefsLocked.
  if (mp.isSet("ExitNodeID") && mp.prefs.exitNodeId.empty() && !mp.isSet("InternalExitNodePrior")) {
    mp.prefs.internalExitNodePrior.clear();
    mp.mark("InternalExitNodePrior");
  }
  if ((mp.isSet("ExitNodeID") || mp.isSet("ExitNodeIP")) && !mp.isSet("AutoExitNode")) {
    mp.mark("AutoExitNode");
    mp.prefs.autoExitNode.clear();
  }
  mp.set.erase("Egg");  // Go consumes Egg without storing it
  ipn::Prefs p1 = prefs_;
  ipn::applyEdits(p1, mp);
  TNET_TRY_VOID(checkPrefs(p1));
  if (ipn::prefsEqual(p1, prefs_)) return prefs_;
  setPrefs(std::move(p1));
  return prefs_;
}

void Backend::setPrefs(ipn::Prefs p) {
  ipn::Prefs old = prefs_;
  p.persist = old.persist;  // callers may not override Persist
  prefs_ = std::move(p);
  prefsDirty_ = true;
  configDirty_ = true;
  if (!old.wantRunning && prefs_.wantRunning && controlClientStarted_) ccLogin(false);
  if (old.wantRunning != prefs_.wantRunning) stateMachine();
  ipn::Notify n = baseNotify();
  n.prefs = prefs_;
  send(std::move(n));
}

Result<void> Backend::start(ipn::Options opts) {
  if (opts.updatePrefs) TNET_TRY_VOID(checkPrefs(*opts.updatePrefs));
  if (state_ != State::RUNNING && opts.authKey.empty() && !configAuthKey_.empty()) {
    opts.authKey = configAuthKey_;
  }
  // A new control client: forget the old session's login progress (Go's
  // resetControlClientLocked), enter NoState without a Notify.
  controlClientStarted_ = true;
  controlLoggedIn_ = false;
  loginGoalPending_ = false;
  loginWaitingForUrl_ = false;
  authUrl_.clear();
  state_ = State::NO_STATE;
  endKeyLogin();  // a login of the old control client ends with it
  loginProblem_.reset();
  startAuthKey_ = opts.authKey;  // Go's control client keeps the auth key for its logins
  configDirty_ = true;

  if (opts.updatePrefs) {
    ipn::Prefs p = std::move(*opts.updatePrefs);
    p.persist = prefs_.persist;
    prefs_ = std::move(p);
    prefsDirty_ = true;
  }
  controlRequests_.push_back(
      {ControlRequest::Kind::START, controlUrl(), std::move(opts.authKey)});
  ipn::Notify n = baseNotify();
  n.prefs = prefs_;
  send(std::move(n));

  bool confWantRunning = config_.has_value() && prefs_.wantRunning;
  if (!prefs_.loggedOut && (haveNodeKey() || confWantRunning)) ccLogin(false);
  stateMachine();
  return {};
}

void Backend::logout() {
  if (!haveNodeKey()) return;  // already logged out: Go answers 204 and does nothing
  ipn::MaskedPrefs mp;
  mp.prefs.wantRunning = false;
  mp.prefs.loggedOut = true;
  mp.mark("WantRunning");
  mp.mark("LoggedOut");
  ipn::Prefs p = prefs_;
  ipn::applyEdits(p, mp);
  setPrefs(std::move(p));
  controlRequests_.push_back({ControlRequest::Kind::LOGOUT, controlUrl(), {}});
  // Control expires the registered key (controld.logout), then ipnd forgets it and wgd drops any
  // pending key; the next login prepares a new one.
  endKeyLogin();
  ++loginAttempt_;
  keySteps_.push_back({KeyStep::Kind::LOGOUT, loginAttempt_, controlUrl(), *nodePublicKey_, {}, {}, false});
  keySteps_.push_back({KeyStep::Kind::DISCARD_PENDING, loginAttempt_, {}, {}, {}, {}, false});
  startAuthKey_.clear();
  controlKeyExpired_ = false;
  configDirty_ = true;
  // Go deletes the login profile: the node key and the netmap are gone.
  nodePublicKey_.reset();
  prefs_.persist.reset();
  netmap_.reset();
  controlLoggedIn_ = false;
  loginGoalPending_ = false;
  authUrl_.clear();
  prefsDirty_ = true;
  stateMachine();
  ipn::Notify n = baseNotify();  // the prefs without the login, as after Go's profile reset
  n.prefs = prefs_;
  send(std::move(n));
}

std::string Backend::controlUrl() const {
  if (prefs_.controlUrl.empty() && !options_.envControlUrl.empty()) return options_.envControlUrl;
  return prefs_.controlUrlOrDefault();
}

StateFacts Backend::facts() const {
  StateFacts f;
  f.stateStoreHealthy = storeHealthy_;
  f.wantRunning = prefs_.wantRunning;
  f.loggedOut = prefs_.loggedOut;
  f.engineBlocked = engineBlocked_;
  f.haveNodeKey = haveNodeKey();
  f.controlClientStarted = controlClientStarted_;
  f.controlLoggedIn = controlLoggedIn_;
  f.loginGoalPending = loginGoalPending_;
  f.loginWaitingForUrl = loginWaitingForUrl_;
  f.haveNetmap = netmap_.has_value();
  f.keyExpired = (netmap_ && netmap_->keyExpired) || controlKeyExpired_;
  f.machineAuthorized = netmap_ && netmap_->machineAuthorized;
  f.numLivePeers = numLivePeers_;
  f.liveDerps = liveDerps_;
  return f;
}

void Backend::stateMachine() {
  // Go's rule moves Starting → Running only from Starting, on the engine status update that
  // entering Starting triggers; facts already true here play that update (at most two steps).
  for (int i = 0; i < 3; ++i) {
    State next = nextState(facts(), state_);
    if (next == state_) return;
    enterState(next);
  }
}

void Backend::enterState(State next) {
  if (next == state_) return;
  state_ = next;
  if (next == State::NEEDS_LOGIN) engineBlocked_ = true;  // Go blocks engine updates
  if (next == State::RUNNING) authUrl_.clear();
  ipn::Notify n = baseNotify();
  n.state = next;
  send(std::move(n));
  stateChange_ = StateEvent{++stateSeq_, next, haveNodeKey(), prefs_.wantRunning};
}

bool Backend::validBrowserUrl(const std::string& url) const {
  // Go's validPopBrowserURLLocked.
  std::string control = controlUrl();
  bool https = url.rfind("https://", 0) == 0;
  bool http = url.rfind("http://", 0) == 0;
  if (!https && !(http && control.rfind("http://", 0) == 0)) return false;
  if (control == ipn::DEFAULT_CONTROL_URL) {
    std::string rest = url.substr(https ? 8 : 7);
    std::string host = rest.substr(0, rest.find_first_of("/?#"));
    if (auto at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
    if (auto colon = host.rfind(':'); colon != std::string::npos) host = host.substr(0, colon);
    constexpr std::string_view SUFFIX = ".tailscale.com";
    bool sub =
        host.size() > SUFFIX.size() && host.compare(host.size() - SUFFIX.size(), SUFFIX.size(), SUFFIX) == 0;
    if (host != "tailscale.com" && !sub) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// facts from other services

void Backend::updateServiceHealth(ServiceHealth h) {
  // Go sends Notify{Health} to every watcher whenever the health state changes.
  auto before = healthLines();
  health_.update(std::move(h));
  if (healthLines() != before) {
    ipn::Notify n = baseNotify();
    n.health = healthWarnings();
    send(std::move(n));
  }
}

void Backend::expireHealthNotes() {
  if (!health_.expireRestartNotes()) return;
  ipn::Notify n = baseNotify();
  n.health = healthWarnings();
  send(std::move(n));
}

void Backend::recordViolation(const std::string& service, Violation v) {
  health_.recordViolation(service, std::move(v));
}

void Backend::onAuthUrl(const std::string& url, int64_t nowUnixMs) {
  bool fresh = url != authUrl_;
  authUrl_ = url;
  authUrlTimeMs_ = nowUnixMs;
  loginWaitingForUrl_ = true;
  if (fresh && validBrowserUrl(url)) {
    ipn::Notify n = baseNotify();
    n.browseToUrl = url;
    send(std::move(n));
  }
  stateMachine();
}

void Backend::onLoginSucceeded(const std::string& nodePublicKey) {
  bool hadAuthUrl = !authUrl_.empty();
  controlLoggedIn_ = true;
  loginGoalPending_ = false;
  loginWaitingForUrl_ = false;
  if (engineBlocked_ || hadAuthUrl) {
    engineBlocked_ = false;
    ipn::Notify n = baseNotify();
    n.loginFinished = true;
    send(std::move(n));
  }
  ipn::Prefs p = prefs_;
  if (hadAuthUrl) {
    authUrl_.clear();
    p.wantRunning = true;
  }
  p.loggedOut = false;
  bool keyChanged = nodePublicKey_ != nodePublicKey;
  nodePublicKey_ = nodePublicKey;
  if (!p.persist) p.persist = ipn::Persist{};
  bool changed = !ipn::prefsEqual(p, prefs_);
  prefs_ = std::move(p);
  if (changed || keyChanged) prefsDirty_ = true;
  // Go's Persist holds the node key, so a new key changes the prefs: watchers hear it (that is
  // how `up --force-reauth` learns the re-login finished before the next netmap).
  if (changed || keyChanged) {
    ipn::Notify n = baseNotify();
    n.prefs = prefs_;
    send(std::move(n));
  }
  stateMachine();
}

void Backend::onNetmap(const NetmapFacts& nm) {
  netmap_ = nm;
  configDirty_ = true;
  if (!nm.keyExpired) {
    engineBlocked_ = false;  // an extended key unblocks the engine
    controlKeyExpired_ = false;
  }
  stateMachine();
}

void Backend::onEngineStatus(int numLivePeers, int liveDerps) {
  numLivePeers_ = numLivePeers;
  liveDerps_ = liveDerps;
  stateMachine();
}

void Backend::setPersistError(std::optional<std::string> error) {
  persistError_ = std::move(error);
}

// ---------------------------------------------------------------------------------------------
// outputs and status

std::vector<NotifyEvent> Backend::takeNotifies() {
  return std::exchange(notifies_, {});
}
std::optional<StateEvent> Backend::takeStateChange() {
  return std::exchange(stateChange_, std::nullopt);
}
std::vector<ControlRequest> Backend::takeControlRequests() {
  return std::exchange(controlRequests_, {});
}
std::vector<KeyStep> Backend::takeKeySteps() {
  return std::exchange(keySteps_, {});
}
bool Backend::takeConfigDirty() {
  return std::exchange(configDirty_, false);
}
bool Backend::takePrefsDirty() {
  return std::exchange(prefsDirty_, false);
}

ipn::Notify Backend::baseNotify() const {
  ipn::Notify n;
  n.version = options_.version;
  return n;
}

void Backend::send(ipn::Notify n) {
  notifies_.push_back({++notifySeq_, ipn::notifyToString(n)});
}

std::vector<std::string> Backend::healthLines() const {
  std::vector<std::string> lines;
  if (!storeHealthy_) lines.push_back("state store unhealthy: " + storeError_);
  for (const auto& l : startupHealth_) lines.push_back(l);
  if (persistError_) lines.push_back("prefs not saved: " + *persistError_);
  if (loginProblem_) lines.push_back(*loginProblem_);
  for (const auto& [svc, line] : serviceProblems_) lines.push_back(line);
  for (auto& l : health_.healthLines()) lines.push_back(std::move(l));
  return lines;
}

std::vector<ipn::HealthWarning> Backend::healthWarnings() const {
  std::vector<ipn::HealthWarning> out;
  if (!storeHealthy_)
    out.push_back({"state-store-health", "high", "State store unhealthy", storeError_, true});
  int i = 0;
  for (const auto& l : startupHealth_)
    out.push_back({"tailnetd-startup-" + std::to_string(i++), "medium", "tailnetd", l, false});
  if (persistError_) out.push_back({"tailnetd-prefs-save", "high", "Prefs not saved", *persistError_, false});
  if (loginProblem_) out.push_back({"tailnetd-login", "high", "Login failed", *loginProblem_, true});
  for (const auto& [svc, line] : serviceProblems_)
    out.push_back({"tailnetd-" + svc + "-config", "high", svc, line, true});
  for (const auto& svc : options_.expectedServices) {
    auto it = health_.all().find(svc);
    if (it == health_.all().end()) {
      out.push_back({"tailnetd-" + svc, "medium", svc, "no health report received", false});
    } else if (it->second.state != "ok") {
      out.push_back({"tailnetd-" + svc, "high", svc, it->second.state + ": " + it->second.message, false});
    }
  }
  for (const auto& [svc, note] : health_.restartNotes())
    out.push_back({"tailnetd-" + svc + "-restarted", "medium", svc, note, false});
  return out;
}

}  // namespace tnet::ipnd
