// controld's control-protocol client: one ts2021 connection (libs/net Ts2021Client) to the
// control server for register, the streaming map poll, lite map updates and ping answers, with
// the flows of Go's control/controlclient (direct.go, auto.go). Bus-free: the app turns its
// reports into controld.status / controld.netmap / controld.health and its inputs come from
// controld.login / logout / setConfig. Single-threaded: everything runs on the bus loop.
// docs/control.md describes the flows, backoff, watchdog and limits.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/result.h"
#include "libs/bus/loop.h"
#include "libs/crypto/secret.h"
#include "libs/ipn/netip.h"
#include "libs/wire/keys.h"
#include "services/controld/core/map_frame.h"
#include "services/controld/core/netmap.h"
#include "services/controld/core/requests.h"

namespace tnet::controld {

// Go's watchdogTimeout in controlclient/direct.go: no frame (not even a keep-alive) for this
// long and the poll is torn down and redone.
inline constexpr std::chrono::seconds DEFAULT_MAP_SILENCE_TIMEOUT{120};
// A decompressed map payload larger than this is refused (a 10k-peer map is ~9 MB of JSON).
inline constexpr size_t MAX_DECOMPRESSED_MAP = 256u << 20;

struct ControlClientOptions {
  std::chrono::milliseconds mapSilenceTimeout = DEFAULT_MAP_SILENCE_TIMEOUT;
  std::chrono::milliseconds backoffInitial{250};
  std::chrono::milliseconds backoffMax{30000};  // Go's auth/map/update loops cap at 30 s
  std::chrono::milliseconds requestTimeout{30000};
  // The follow-up register of an interactive login long-polls until the user approves; it is
  // reissued (same AuthURL) when this passes.
  std::chrono::milliseconds followupTimeout{300000};
  size_t maxMapFrame = DEFAULT_MAX_MAP_FRAME;
  std::string extraCaFile;  // tests: an extra trusted CA for https:// control URLs
  bool compressZstd = true;
};

enum class Phase { IDLE, REGISTERING, WAITING_FOR_AUTH, LOGGED_IN, MAP_POLLING, RECONNECTING };
const char* phaseText(Phase p);  // the schema's enumerant names, for logs and tests

// Mirrors schema::ControlStatus.
struct ControlStatusValue {
  Phase phase = Phase::IDLE;
  std::string controlUrl;
  std::string authUrl;
  std::string loggedInNodePublic;
  uint64_t loginFinishedCount = 0;
  bool machineAuthorized = false;
  bool nodeKeyExpired = false;
  std::string lastError;
  bool mapConnected = false;
  std::string machinePublic;
  std::string loginName;
  int64_t userId = 0;
};

struct LoginInput {
  std::string controlUrl;
  crypto::SecretString authKey;  // dropped once the first register request is built
  key::NodePublic nodePublic;
  key::NodePublic oldNodePublic;
  bool interactive = false;
  std::string hostinfoJson;
  bool ephemeral = false;
  std::vector<std::string> tags;
};

// Mirrors schema::LoginReply.
struct LoginResult {
  std::string authUrl;
  bool registered = false;
  bool machineAuthorized = false;
  bool nodeKeyExpired = false;
  std::string loginName;
  int64_t userId = 0;
  std::string error;  // control's RegisterResponse.Error
};

struct ConfigInput {
  uint64_t generationEpoch = 0;
  uint64_t generationN = 0;
  std::string controlUrl;
  bool wantRunning = false;
  key::NodePublic nodePublic;    // zero = none committed
  key::DiscoPublic discoPublic;  // zero = not known yet
  std::string hostinfoJson;
  std::vector<ipn::IpAddrPort> endpoints;
  std::vector<EndpointType> endpointTypes;
  int preferredDerp = 0;
  std::string netInfoJson;
};

enum class ClientHealth { OK, DEGRADED };

struct ControlClientSink {
  std::function<void(const ControlStatusValue&)> onStatus;
  // A complete netmap; `generation` rises by 1 per publication for the process's lifetime.
  std::function<void(const NetworkMap&, uint64_t generation)> onNetmap;
  std::function<void(ClientHealth, const std::string&)> onHealth;
};

class ControlClient {
 public:
  ControlClient(bus::Loop& loop, key::MachinePrivate machineKey, ControlClientOptions options,
                ControlClientSink sink);
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // One register attempt; `done` runs once, when control answered the first request (or it
  // failed). An AuthURL answer keeps the follow-up long-poll open; its completion is reported
  // through onStatus (loginFinishedCount + 1). A new login supersedes a pending one.
  void login(LoginInput input, std::function<void(Result<LoginResult>)> done);
  // Register with an Expiry in the past, stop polling; done after control answered.
  void logout(std::string controlUrl, key::NodePublic nodePublic, std::function<void(Result<void>)> done);
  // Applies a config (a stale generation is ignored); returns the generation now applied.
  // Errors: INVALID for hostinfo/netinfo JSON that does not parse (nothing applied).
  Result<std::pair<uint64_t, uint64_t>> setConfig(ConfigInput config);

  const ControlStatusValue& status() const;
  bool pollRunning() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tnet::controld
