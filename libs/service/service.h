// The runtime every service main uses. It parses the argv contract
//   <svc> --runtime-dir DIR --state-dir DIR [--log-level 0|1|2] [service options]
// sets up the logger, binds the bus (ZAP handler first, then <svc>/ev and <svc>/rpc), serves
// sys.setLogLevel and sys.health, publishes the retained <svc>.health with this process's
// isolation facts, sends READY=1 to $NOTIFY_SOCKET once bound, and shuts down cleanly on
// SIGTERM/SIGINT (endpoint files unlinked). Started by the supervisor or by systemd, it behaves
// the same. See docs/bus.md for a main.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libs/base/result.h"
#include "libs/bus/bus.h"
#include "libs/bus/loop.h"
#include "libs/service/restart_facts.h"

namespace CLI {
class App;
}
namespace spdlog {
class logger;
}

namespace tnet::service {

struct Options {
  std::string runtimeDir;
  std::string stateDir;
  int logLevel = 0;
};

enum class HealthState { STARTING, OK, DEGRADED, FAILED };

class Service {
 public:
  Service(std::string name, Options options, bus::Loop& loop, std::unique_ptr<bus::Bus> bus);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  const std::string& name() const { return name_; }
  const Options& options() const { return options_; }
  bus::Loop& loop() { return loop_; }
  bus::Bus& bus() { return *bus_; }
  spdlog::logger& log();

  // Publishes <svc>.health (retained) with fresh isolation facts; sys.health answers the same.
  void setHealth(HealthState state, std::string message);
  HealthState healthState() const { return healthState_; }
  // Why the supervisor restarted this service (read from the environment at construction);
  // part of every published health.
  const RestartFacts& restartFacts() const { return restartFacts_; }
  const std::string& healthMessage() const { return healthMessage_; }

  // Runs on SIGTERM/SIGINT (or stop()) before the loop stops, in registration order.
  void onShutdown(std::function<void()> fn);
  // Stops the loop after the shutdown hooks; run() then returns `exitCode`.
  void stop(int exitCode = 0);
  int exitCode() const { return exitCode_; }

  // For the runtime: wires sys.* and the health event.
  void installSysHandlers();

 private:
  void fillHealth(capnp::AnyPointer::Builder builder);

  std::string name_;
  Options options_;
  bus::Loop& loop_;
  std::unique_ptr<bus::Bus> bus_;
  HealthState healthState_ = HealthState::STARTING;
  std::string healthMessage_ = "starting";
  RestartFacts restartFacts_;
  std::vector<std::function<void()>> shutdownHooks_;
  bool stopping_ = false;
  int exitCode_ = 0;
};

struct ServiceMain {
  std::string name;  // a manifest service name; also the logger's name
  // Adds service-specific options to the CLI11 parser (optional).
  std::function<void(CLI::App&)> addOptions;
  // Registers handlers and subscriptions, opens what the service needs. Must not block: READY is
  // sent when it returns. The returned object is the service's state, destroyed at shutdown
  // (before the bus). An error is logged and the process exits 1.
  std::function<Result<std::shared_ptr<void>>(Service&)> start;
};

// The whole main(): returns the process exit code (0 after a clean shutdown, 1 on a start
// failure, 2 on a usage error).
int run(const ServiceMain& spec, int argc, char** argv);

// sd_notify(0, "READY=1") when $NOTIFY_SOCKET is set; false if sending failed.
bool notifyReady();

}  // namespace tnet::service
