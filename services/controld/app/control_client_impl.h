// Internal to ControlClient: the shared state of its flows. Each flow's code is in its own file
// (control_connection.cpp, control_register.cpp, control_config.cpp, control_map_poll.cpp,
// control_map_apply.cpp, control_ping.cpp); control_client.cpp holds the public face. Not for use
// outside services/controld/app.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/log/log.h"
#include "libs/net/ts2021_client.h"
#include "services/controld/app/backoff.h"
#include "services/controld/app/control_client.h"
#include "services/controld/core/hostinfo.h"
#include "services/controld/core/map_types.h"
#include "services/controld/core/requests.h"

namespace tnet::controld {

// How much of an error body (non-200 answer) we quote in lastError.
inline constexpr size_t MAX_ERROR_BODY = 512;

std::string httpError(std::string_view what, int status, std::string_view body);
void wipeString(std::string& s);

struct ControlClient::Impl : std::enable_shared_from_this<Impl> {
  using ClientFn = std::function<void(Result<net::Ts2021Client*>)>;

  struct Poll {
    Poll(uint64_t id, size_t maxFrame) : id(id), reader(maxFrame) {}
    uint64_t id;
    net::StreamHandle stream;
    MapFrameReader reader;
    MapSession session;
    bus::Handle watchdog;
    int httpStatus = 0;
    std::string errorBody;
    bool delivering = false;
  };

  Impl(bus::Loop& loop, key::MachinePrivate key, ControlClientOptions options, ControlClientSink sink)
      : loop(loop),
        machineKey(std::move(key)),
        opts(std::move(options)),
        sink(std::move(sink)),
        loginBackoff(opts.backoffInitial, opts.backoffMax),
        pollBackoff(opts.backoffInitial, opts.backoffMax),
        liteBackoff(opts.backoffInitial, opts.backoffMax) {
    status.machinePublic = machineKey.publicKey().toString();
  }

  bus::Loop& loop;
  key::MachinePrivate machineKey;
  ControlClientOptions opts;
  ControlClientSink sink;
  ControlStatusValue status;
  ClientHealth health = ClientHealth::OK;
  std::string healthMessage;
  log::RateLimiter netLog{1.0, 20};

  // ---- the connection ----
  std::string url;
  std::optional<key::MachinePublic> serverKey;
  std::shared_ptr<net::Ts2021Client> client;
  bool connected = false;
  bool dialing = false;
  uint64_t connGen = 0;
  std::vector<ClientFn> waiters;
  std::string loggedDialUrl;

  // ---- login ----
  uint64_t loginId = 0;
  bool loginActive = false;
  std::function<void(Result<LoginResult>)> loginDone;
  key::NodePublic loginNode, loginOldNode;
  Hostinfo loginHostinfo;
  bool loginEphemeral = false;
  std::string followupUrl;
  bus::Handle loginRetry;
  Backoff loginBackoff;
  key::NodePublic loggedOutNode;

  // ---- config, map poll, lite updates ----
  std::optional<ConfigInput> cfg;
  Hostinfo cfgHostinfo;
  std::optional<NetInfo> cfgNetInfo;
  std::unique_ptr<Poll> poll;
  uint64_t pollSeq = 0;
  bool pollWanted = false;
  key::NodePublic pollNode;
  bus::Handle pollRetry;
  Backoff pollBackoff;
  uint64_t netmapGeneration = 0;
  bool publishPending = false;
  uint64_t liteGen = 0;
  bus::Handle liteRetry;
  Backoff liteBackoff;

  // Deferred destruction: a stream or client may be torn down from inside its own callback.
  template <typename T>
  void retire(std::shared_ptr<T> thing) {
    if (thing) loop.post([thing] {});
  }

  // control_client.cpp
  void publishStatus();
  void setHealth(ClientHealth h, std::string message);
  void warnNet(const std::string& event, const std::string& err);
  void shutdown();

  // control_connection.cpp
  bool setUrl(const std::string& next);
  void withConnection(ClientFn fn);
  void dial();
  void connectNoise(uint64_t gen);
  void dialFailed(const std::string& message);
  void dropClient();

  // control_register.cpp: login, its follow-up long-poll, logout
  void cancelLogin(const std::string& reason);
  void replyLogin(Result<LoginResult> r);
  void login(LoginInput in, std::function<void(Result<LoginResult>)> done);
  std::string followupBody() const;
  void sendRegister(uint64_t id, std::string body, std::chrono::milliseconds timeout);
  void registerFailed(uint64_t id, const std::string& message);
  void scheduleFollowup(uint64_t id, std::chrono::milliseconds delay);
  void onRegisterResponse(uint64_t id, Result<net::H2Response> r);
  void logout(const std::string& controlUrl, key::NodePublic node, std::function<void(Result<void>)> done);

  // control_config.cpp: setConfig and lite map updates
  static bool liteFieldsDiffer(const ConfigInput& a, const ConfigInput& b);
  bool wantPoll() const;
  Result<std::pair<uint64_t, uint64_t>> setConfig(ConfigInput next);
  MapRequest baseMapRequest() const;
  void sendLite();
  void liteFailed(uint64_t gen, const std::string& message);

  // control_map_poll.cpp: the streaming map poll, its watchdog and backoff
  void startPoll();
  void stopPoll();
  void retirePoll();
  void openPoll();
  void sendPoll(uint64_t id, net::Ts2021Client& c);
  void armWatchdog(uint64_t id);
  void onPollData(uint64_t id, std::span<const uint8_t> data);
  void onPollEnd(uint64_t id, Result<void> end);
  void pollFailed(uint64_t id, const std::string& message, bool dropConnection);

  // control_map_apply.cpp: a map frame into the session, the netmap publication
  Result<void> handleFrame(const Bytes& frame);
  void schedulePublish(uint64_t id);

  // control_ping.cpp
  void answerPing(const PingRequest& ping);
};

}  // namespace tnet::controld
