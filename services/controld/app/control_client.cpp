// ControlClient's public face and what its flows share: status and health reports, the
// rate-limited network warnings, error texts. The flows are in control_connection.cpp,
// control_register.cpp, control_config.cpp, control_map_poll.cpp, control_map_apply.cpp and
// control_ping.cpp (control_client_impl.h holds their shared state).
#include "services/controld/app/control_client.h"

#include <algorithm>

#include "libs/crypto/crypto.h"
#include "libs/log/log.h"
#include "services/controld/app/control_client_impl.h"

namespace tnet::controld {

namespace {

std::string quoteBody(std::string_view body) {
  std::string cut(body.substr(0, std::min(body.size(), MAX_ERROR_BODY)));
  while (!cut.empty() && (cut.back() == '\n' || cut.back() == '\r' || cut.back() == ' ')) cut.pop_back();
  return log::quote(cut);
}

const char* phaseName(Phase p) {
  switch (p) {
    case Phase::IDLE: return "idle";
    case Phase::REGISTERING: return "registering";
    case Phase::WAITING_FOR_AUTH: return "waitingForAuth";
    case Phase::LOGGED_IN: return "loggedIn";
    case Phase::MAP_POLLING: return "mapPolling";
    case Phase::RECONNECTING: return "reconnecting";
  }
  return "?";
}

}  // namespace

std::string httpError(std::string_view what, int status, std::string_view body) {
  std::string msg = std::string(what) + ": control answered HTTP " + std::to_string(status);
  if (!body.empty()) msg += ": " + quoteBody(body);
  return msg;
}

void wipeString(std::string& s) {
  if (!s.empty()) crypto::wipe(MutableByteSpan(reinterpret_cast<uint8_t*>(s.data()), s.size()));
  s.clear();
}

void ControlClient::Impl::publishStatus() {
  if (sink.onStatus) sink.onStatus(status);
}

void ControlClient::Impl::setHealth(ClientHealth h, std::string message) {
  if (h == health && message == healthMessage) return;
  health = h;
  healthMessage = std::move(message);
  if (sink.onHealth) sink.onHealth(health, healthMessage);
}

void ControlClient::Impl::warnNet(const std::string& event, const std::string& err) {
  if (!netLog.allow()) return;
  uint64_t suppressed = netLog.takeSuppressed();
  if (suppressed > 0) {
    log::logger().warn("{} err={} suppressed={}", event, log::quote(err), suppressed);
  } else {
    log::logger().warn("{} err={}", event, log::quote(err));
  }
}

void ControlClient::Impl::shutdown() {
  loginRetry.reset();
  pollRetry.reset();
  liteRetry.reset();
  poll.reset();
  waiters.clear();
  ++connGen;
  client.reset();  // the destructor runs no callbacks
}

ControlClient::ControlClient(bus::Loop& loop, key::MachinePrivate machineKey, ControlClientOptions options,
                             ControlClientSink sink)
    : impl_(std::make_shared<Impl>(loop, std::move(machineKey), std::move(options), std::move(sink))) {}

ControlClient::~ControlClient() { impl_->shutdown(); }

void ControlClient::login(LoginInput input, std::function<void(Result<LoginResult>)> done) {
  impl_->login(std::move(input), std::move(done));
}

void ControlClient::logout(std::string controlUrl, key::NodePublic nodePublic, std::function<void(Result<void>)> done) {
  impl_->logout(controlUrl, nodePublic, std::move(done));
}

Result<std::pair<uint64_t, uint64_t>> ControlClient::setConfig(ConfigInput config) {
  return impl_->setConfig(std::move(config));
}

const ControlStatusValue& ControlClient::status() const { return impl_->status; }

bool ControlClient::pollRunning() const { return impl_->pollWanted; }

const char* phaseText(Phase p) { return phaseName(p); }

}  // namespace tnet::controld
