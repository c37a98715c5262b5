// ipnd's brain without I/O: prefs, the registered node public key, the derived state (Go's
// state machine), the health cache, and the LocalAPI semantics. The app feeds it facts (bus
// events, LocalAPI requests, the time) and drains what it produced: Notify messages, state
// changes, control requests and "prefs need saving".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/result.h"
#include "libs/ipn/config_valpha.h"
#include "libs/ipn/notify.h"
#include "libs/ipn/options.h"
#include "libs/ipn/status.h"
#include "services/ipnd/core/health_cache.h"
#include "services/ipnd/core/prefs_file.h"
#include "services/ipnd/core/state_machine.h"

namespace tnet::ipnd {

struct BackendOptions {
  std::string version = TNET_VERSION;
  std::string osHostname;                     // Status.Self.HostName before a netmap
  std::vector<std::string> expectedServices;  // whose health ipnd expects to see
  std::function<std::string()> newSessionId;  // 16 random hex chars (Go's rands.HexString)
  std::string envControlUrl;                  // TS_CONTROL_URL ("" = unset)
};

struct LocalApiRequest {
  std::string method;
  std::string path;   // "/localapi/v0/…"
  std::string query;  // raw, no "?"
  std::string body;
  uint32_t callerUid = 0;
  uint32_t callerPid = 0;
  bool callerPrivileged = false;              // root or the suite owner
  bool needsWrite = false;                    // apid's table
  std::optional<std::string> callerUserName;  // resolved by the app (for Prefs.OperatorUser)
};

struct LocalApiResponse {
  uint16_t status = 200;
  std::string contentType;
  std::string body;
  uint64_t notifySeq = 0;
};

struct NotifyEvent {
  uint64_t seq = 0;
  std::string json;  // one complete Go ipn.Notify object, no trailing newline
};

struct StateEvent {
  uint64_t seq = 0;
  ipn::State state = ipn::State::NO_STATE;
  bool haveNodeKey = false;
  bool wantRunning = false;
};

// What ipnd asks controld to do (delivered once a control link exists).
struct ControlRequest {
  enum class Kind { START, LOGIN, LOGIN_INTERACTIVE, LOGOUT } kind = Kind::START;
  std::string controlUrl;
  std::string authKey;  // secret; only for START
};

// One node of the netmap (self or a peer) as ipnd keeps it: what status, whois, the configs
// and the state machine need. Keys and addresses in Go's text forms (schemas/netmap.capnp).
struct NodeFacts {
  int64_t id = 0;
  std::string stableId;
  std::string name;  // MagicDNS FQDN with the trailing dot ("" when control sent none)
  int64_t userId = 0;
  std::string key;       // nodekey:
  std::string discoKey;  // discokey: or ""
  std::vector<std::string> addresses;   // prefixes ("100.64.0.1/32")
  std::vector<std::string> allowedIps;  // prefixes
  std::vector<std::string> endpoints;   // "ip:port"
  int32_t homeDerp = 0;
  bool hasHostinfo = false;  // peers may lack Hostinfo entirely
  std::string hostname;
  std::string os;
  std::optional<bool> online;
  std::optional<int64_t> lastSeenUnix;
  std::optional<int64_t> createdUnix;
  std::optional<int64_t> keyExpiryUnix;
  bool expired = false;
  std::vector<std::string> tags;  // "tag:…" (whois prints them instead of the user)
  // The rest only LocalAPI whois shows (Go's tailcfg.Node fields).
  int64_t sharerId = 0;
  std::string machine;  // mkey: (all zero when control sent none)
  int32_t cap = 0;
  std::vector<std::string> primaryRoutes;
  std::vector<std::string> capabilities;
  bool machineAuthorized = false;
  bool isWireGuardOnly = false;
  std::string hostinfoJson;  // as controld kept it ("" when absent or over its cap)
};

// The netmap as ipnd keeps it. The first fields are the self facts the state machine needs.
struct NetmapFacts {
  bool machineAuthorized = false;
  bool keyExpired = false;
  std::vector<std::string> tailscaleIps;  // self single-IP addresses, bare
  std::string selfDnsName;
  std::string selfStableId;
  std::string tailnetName;     // MapResponse.Domain
  std::string magicDnsSuffix;  // self name minus its first label, no dots at the ends
  bool magicDnsEnabled = false;  // DNSConfig.Proxied
  std::optional<NodeFacts> self;
  std::vector<NodeFacts> peers;  // sorted by id
  std::vector<ipn::UserProfile> users;
  std::map<int32_t, std::string> derpRegionCodes;  // region id → code; empty = no DERP map
  std::map<int32_t, std::string> derpRegionNames;  // region id → name (tnet netcheck)
};

// wgd.peers, one entry.
struct WgPeerFacts {
  int64_t lastHandshakeUnixNano = 0;  // 0 = never
  uint64_t rxBytes = 0;
  uint64_t txBytes = 0;
  std::string state;  // "none", "handshaking", "established", "expired"
};

// magicsockd.paths, one entry.
struct PathFacts {
  std::string curAddr;  // direct "ip:port" or ""
  int32_t relayRegion = 0;
  uint64_t rxBytes = 0;
  uint64_t txBytes = 0;
  int64_t lastRxUnixMs = 0;
  int64_t lastTxUnixMs = 0;
  bool active = false;
};

// magicsockd.derp.
struct DerpFacts {
  int32_t homeRegion = 0;
  int connectedRegions = 0;
  std::vector<std::string> endpoints;  // our own "ip:port" candidates
};

// controld.status.
struct ControlStatusFacts {
  uint64_t epoch = 0;  // controld's bus epoch
  bool reconnecting = false;
  std::string authUrl;
  std::string loggedInNodePublic;
  uint64_t loginFinishedCount = 0;
  bool nodeKeyExpired = false;
  std::string lastError;  // user-visible
  bool mapConnected = false;
};

// One step of the node-key lifecycle (ARCHITECTURE.md §Keys) for the app to run on the bus.
// The app reports each step's outcome with the same `attempt`; outcomes of older attempts are
// ignored.
struct KeyStep {
  enum class Kind { PREPARE_KEY, LOGIN, COMMIT_KEY, DISCARD_PENDING, LOGOUT } kind = Kind::PREPARE_KEY;
  uint64_t attempt = 0;
  std::string controlUrl;
  std::string nodePublic;     // LOGIN, COMMIT_KEY, LOGOUT
  std::string oldNodePublic;  // LOGIN
  std::string authKey;        // LOGIN: secret, never logged
  bool interactive = false;   // LOGIN
};

// controld.login's reply.
struct LoginResult {
  std::string authUrl;
  bool registered = false;
  bool machineAuthorized = false;
  bool nodeKeyExpired = false;
  std::string error;  // control's user-visible error
};

// Go's Node.Addresses filtered by IsSingleIP, as bare addresses ("100.64.0.1/32" → "100.64.0.1").
std::vector<std::string> singleIps(const std::vector<std::string>& prefixes);
// Go's time.Time JSON (RFC 3339, nanoseconds with trailing zeros trimmed, UTC); 0 = zero time.
std::string goTimeNanos(int64_t unixNano);

// LocalAPI helpers (localapi.cpp): Go's http.Error (text + "\n"), a JSON body, and Go's
// url.Values.Get with %-decoding (nullopt when absent or badly escaped).
LocalApiResponse httpError(uint16_t status, std::string_view msg);
LocalApiResponse jsonBody(uint16_t status, std::string body);
std::optional<std::string> queryValue(std::string_view query, std::string_view key);

class Backend {
 public:
  explicit Backend(BackendOptions options);

  // ---- startup ----
  void loadPrefs(PrefsFile file);
  // Prefs could not be loaded nor set aside: Go's unhealthy state store → NoState, no start.
  void setStoreUnhealthy(std::string reason);
  void addStartupHealth(std::string line);
  // Merges the config over the loaded prefs (Go's ToPrefs + ApplyEdits) and keeps its auth key
  // in memory only. The key must already be resolved (no "file:" form).
  Result<void> applyConfig(const ipn::ConfigVAlpha& config);
  // tailscaled calls Start(ipn.Options{}) at boot when prefs are valid; so do we.
  void startAtBoot();

  // ---- LocalAPI ----
  LocalApiResponse handleLocalApi(const LocalApiRequest& req, int64_t nowUnixMs);

  // ---- facts from other services ----
  void updateServiceHealth(ServiceHealth h);
  // On a timer: a "<svc>: restarted ..." note aged out, so watchers get the new health.
  void expireHealthNotes();
  // The wall clock the restart notes are timed against (tests inject one).
  void setHealthClock(std::function<int64_t()> nowUnixMs) { health_.setClock(std::move(nowUnixMs)); }
  void recordViolation(const std::string& service, Violation v);
  void onAuthUrl(const std::string& url, int64_t nowUnixMs);
  void onLoginSucceeded(const std::string& nodePublicKey);
  void onNetmap(const NetmapFacts& nm);
  void onEngineStatus(int numLivePeers, int liveDerps);
  void setPersistError(std::optional<std::string> error);

  // ---- the node-key lifecycle and the data plane (login_flow.cpp, dataplane.cpp) ----
  void onKeyPrepared(uint64_t attempt, const std::string& nodePublic);
  void onLoginReply(uint64_t attempt, const LoginResult& r, int64_t nowUnixMs);
  void onKeyCommitted(uint64_t attempt, const std::string& nodePublic);
  // A step failed on the bus (service absent, timeout, refused): the login ends, a Health
  // line says why, and the state machine decides (no hang).
  void onKeyStepFailed(uint64_t attempt, KeyStep::Kind kind, const std::string& message);
  void onControlStatus(const ControlStatusFacts& st, int64_t nowUnixMs);
  void onWgPeers(bool full, const std::map<std::string, WgPeerFacts>& changed,
                 const std::vector<std::string>& removed);
  void onPaths(std::map<std::string, PathFacts> paths);
  void onDerp(std::optional<DerpFacts> derp);
  void onDiscoKey(std::string discoPublic);
  void setServiceProblem(const std::string& service, std::optional<std::string> problem);

  // ---- outputs ----
  std::vector<NotifyEvent> takeNotifies();
  std::optional<StateEvent> takeStateChange();
  std::vector<ControlRequest> takeControlRequests();
  bool takePrefsDirty();
  std::vector<KeyStep> takeKeySteps();
  // Something the per-service configs are made of changed (netmap, prefs, keys, disco, DERP).
  bool takeConfigDirty();

  // ---- queries ----
  PrefsFile prefsFile() const { return {prefs_, nodePublicKey_}; }
  const ipn::Prefs& prefs() const { return prefs_; }
  ipn::State state() const { return state_; }
  uint64_t notifySeq() const { return notifySeq_; }
  bool haveNodeKey() const { return nodePublicKey_.has_value(); }
  // The control URL in use: Prefs.ControlURL (set by --login-server / the config), else
  // TS_CONTROL_URL, else Go's default (ARCHITECTURE.md §Layout: control URL precedence).
  std::string controlUrl() const;
  const std::string& authUrl() const { return authUrl_; }
  ipn::Status status(bool wantPeers) const;
  std::vector<std::string> healthLines() const;
  const HealthCache& healthCache() const { return health_; }
  StateFacts facts() const;
  const std::optional<std::string>& nodePublicKey() const { return nodePublicKey_; }
  const std::optional<NetmapFacts>& netmap() const { return netmap_; }
  const std::string& discoPublic() const { return discoPublic_; }
  const std::optional<DerpFacts>& derp() const { return derp_; }
  // The data plane may carry traffic: WantRunning, a netmap, an unexpired key, not logged out.
  bool engineConfigured() const;
  ipn::EngineStatus engineStatus() const;

 private:
  // LocalAPI handlers (localapi.cpp).
  LocalApiResponse serveStatus(const LocalApiRequest& req);
  LocalApiResponse servePrefs(const LocalApiRequest& req, bool permitWrite);
  LocalApiResponse serveCheckPrefs(const LocalApiRequest& req, bool permitWrite);
  LocalApiResponse serveStart(const LocalApiRequest& req, bool permitWrite);
  LocalApiResponse serveLoginInteractive(const LocalApiRequest& req, bool permitWrite, int64_t now);
  LocalApiResponse serveLogout(const LocalApiRequest& req, bool permitWrite);
  LocalApiResponse serveWatchIpnBus(const LocalApiRequest& req);
  LocalApiResponse serveIsolation(const LocalApiRequest& req);

  // Go's LocalBackend operations.
  Result<void> checkPrefs(const ipn::Prefs& p) const;
  Result<ipn::Prefs> editPrefs(ipn::MaskedPrefs mp);
  void setPrefs(ipn::Prefs p);
  Result<void> start(ipn::Options opts);
  void logout();
  void ccLogin(bool interactive);
  void beginKeyLogin(bool interactive);
  void endKeyLogin();
  void loginFailed(const std::string& healthLine);
  void sendErrMessage(const std::string& message);
  void updateEngineFacts();
  void stateMachine();
  void enterState(ipn::State next);
  bool validBrowserUrl(const std::string& url) const;

  void send(ipn::Notify n);
  ipn::Notify baseNotify() const;
  std::vector<ipn::HealthWarning> healthWarnings() const;

  BackendOptions options_;
  ipn::Prefs prefs_ = ipn::newPrefs();
  std::optional<std::string> nodePublicKey_;
  std::optional<ipn::ConfigVAlpha> config_;
  std::string configAuthKey_;  // secret, memory only

  ipn::State state_ = ipn::State::NO_STATE;
  bool storeHealthy_ = true;
  std::string storeError_;
  bool engineBlocked_ = false;
  bool controlClientStarted_ = false;
  bool controlLoggedIn_ = false;
  bool loginGoalPending_ = false;
  bool loginWaitingForUrl_ = false;
  std::optional<NetmapFacts> netmap_;
  int numLivePeers_ = 0;
  int liveDerps_ = 0;
  std::string authUrl_;
  int64_t authUrlTimeMs_ = 0;

  HealthCache health_;
  std::vector<std::string> startupHealth_;
  std::optional<std::string> persistError_;

  uint64_t notifySeq_ = 0;
  uint64_t stateSeq_ = 0;
  std::vector<NotifyEvent> notifies_;
  std::optional<StateEvent> stateChange_;
  std::vector<ControlRequest> controlRequests_;
  bool prefsDirty_ = false;

  // Node-key lifecycle (login_flow.cpp).
  enum class LoginStage { NONE, PREPARING, REGISTERING, WAITING_URL, COMMITTING };
  LoginStage loginStage_ = LoginStage::NONE;
  uint64_t loginAttempt_ = 0;
  bool loginInteractive_ = false;
  std::string pendingKey_;
  std::string startAuthKey_;  // secret: from start/config, memory only, dropped after a login
  std::vector<KeyStep> keySteps_;
  std::optional<ControlStatusFacts> controlStatus_;
  bool controlKeyExpired_ = false;
  std::optional<std::string> loginProblem_;
  std::map<std::string, std::string> serviceProblems_;  // service → Health line
  bool configDirty_ = true;

  // Data plane facts (dataplane.cpp).
  std::map<std::string, WgPeerFacts> wgPeers_;
  std::map<std::string, PathFacts> paths_;
  std::optional<DerpFacts> derp_;
  std::string discoPublic_;
  ipn::EngineStatus lastEngine_;
};

}  // namespace tnet::ipnd
