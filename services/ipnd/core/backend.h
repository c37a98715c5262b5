// ipnd's brain without I/O: prefs, the registered node public key, the derived state (Go's
// state machine), the health cache, and the LocalAPI semantics. The app feeds it facts (bus
// events, LocalAPI requests, the time) and drains what it produced: Notify messages, state
// changes, control requests and "prefs need saving".
#pragma once

#include <cstdint>
#include <functional>
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

// The self part of a netmap that the state machine and status need.
struct NetmapFacts {
  bool machineAuthorized = false;
  bool keyExpired = false;
  std::vector<std::string> tailscaleIps;
  std::string selfDnsName;
  std::string selfStableId;
  std::string tailnetName;
  std::string magicDnsSuffix;
};

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
  void recordViolation(const std::string& service, Violation v);
  void onAuthUrl(const std::string& url, int64_t nowUnixMs);
  void onLoginSucceeded(const std::string& nodePublicKey);
  void onNetmap(const NetmapFacts& nm);
  void onEngineStatus(int numLivePeers, int liveDerps);
  void setPersistError(std::optional<std::string> error);

  // ---- outputs ----
  std::vector<NotifyEvent> takeNotifies();
  std::optional<StateEvent> takeStateChange();
  std::vector<ControlRequest> takeControlRequests();
  bool takePrefsDirty();

  // ---- queries ----
  PrefsFile prefsFile() const { return {prefs_, nodePublicKey_}; }
  const ipn::Prefs& prefs() const { return prefs_; }
  ipn::State state() const { return state_; }
  uint64_t notifySeq() const { return notifySeq_; }
  bool haveNodeKey() const { return nodePublicKey_.has_value(); }
  const std::string& authUrl() const { return authUrl_; }
  ipn::Status status(bool wantPeers) const;
  std::vector<std::string> healthLines() const;
  const HealthCache& healthCache() const { return health_; }
  StateFacts facts() const;

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
};

}  // namespace tnet::ipnd
