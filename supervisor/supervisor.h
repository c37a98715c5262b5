// The supervision loop: starts the services in order (each waits for the previous one's
// READY=1), restarts a crashed service alone with exponential backoff and a start limit, and
// stops everything in reverse order on SIGTERM/SIGINT. One thread; signals arrive through a
// signalfd, readiness through the NOTIFY_SOCKET datagram socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libs/log/log.h"
#include "libs/sandbox/spawn.h"
#include "supervisor/service_table.h"

namespace tnet::supervisor {

using Clock = std::chrono::steady_clock;

// Restart policy (docs/supervisor.md). A service that stays up STABLE_AFTER resets its delay.
struct RestartPolicy {
  std::chrono::milliseconds initialDelay{100};
  std::chrono::milliseconds maxDelay{10'000};
  std::chrono::milliseconds stableAfter{10'000};
  int startLimitBurst = 5;  // starts allowed within startLimitInterval
  std::chrono::milliseconds startLimitInterval{60'000};
  std::chrono::milliseconds readyTimeout{30'000};
  std::chrono::milliseconds stopGrace{5'000};
};

// One service as the supervisor starts it.
struct ServiceLaunch {
  const ServiceInfo* info = nullptr;
  int executableFd = -1;  // O_PATH, opened before anything was spawned
  bool external = false;  // started by hand (--external): only wait for its READY
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::vector<int> passFds;
  bool setListenPid = false;
  std::optional<sandbox::Identity> identity;
  sandbox::NetworkIsolation network = sandbox::NetworkIsolation::SHARED;
  // ipnd's config document: written to a fresh pipe for every start (fd 3 + passFds.size()).
  const std::string* configDocument = nullptr;
};

class Supervisor {
 public:
  // Takes ownership of nothing: fds stay owned by the caller. signalFd must read SIGCHLD,
  // SIGTERM, SIGINT and SIGHUP (blocked in this thread).
  Supervisor(std::vector<ServiceLaunch> launches, int signalFd, int notifyFd, RestartPolicy policy);

  // Runs until a stop signal (returns 0) or a service hits its start limit (returns 1).
  int run();

 private:
  enum class State { IDLE, STARTING, READY, WAITING_RESTART, EXTERNAL_WAITING, EXTERNAL_READY, STOPPED };
  struct Child {
    ServiceLaunch launch;
    State state = State::IDLE;
    pid_t pid = 0;
    Clock::time_point startedAt{};
    Clock::time_point deadline = Clock::time_point::max();
    std::chrono::milliseconds delay{0};
    std::deque<Clock::time_point> recentStarts;
    int starts = 0;
    std::string lastExit;         // describeWaitStatus of the previous instance; "" before any exit
    int64_t lastExitUnixMs = 0;   // wall clock, for the operator
  };

  void startNextInOrder();
  void spawn(Child& c);
  void scheduleRestart(Child& c, Clock::time_point now);
  void handleSignals();
  void reapChildren();
  void onExit(pid_t pid, int status);
  void handleNotify();
  void onReady(pid_t pid);
  void handleTimers(Clock::time_point now);
  void checkSuiteReady();
  void stopAll();
  Clock::time_point nextDeadline() const;
  Child* byPid(pid_t pid);
  const char* name(const Child& c) const { return c.launch.info->name.c_str(); }

  std::vector<Child> children_;
  int signalFd_;
  int notifyFd_;
  RestartPolicy policy_;
  size_t cursor_ = 0;  // next service to start in order
  bool stopRequested_ = false;
  bool fatal_ = false;
  bool suiteReadyLogged_ = false;
  Clock::time_point runStarted_{};
  Clock::time_point nextExternalCheck_ = Clock::time_point::max();
  log::RateLimiter ignoredNotifyLog_{1.0, 5.0};
};

// "exit 1", "signal 9 (Killed)": for logs.
std::string describeWaitStatus(int status);

// What a restarted service is told about its predecessor (docs/supervisor.md "Restart facts"):
// TAILNETD_RESTARTS, TAILNETD_LAST_EXIT, TAILNETD_LAST_EXIT_UNIX_MS. The supervisor sets them
// itself, after the allow-list filter, so an operator's environment cannot forge them. Empty for
// a first start (restarts == 0) and when no instance has exited yet (only spawn failures).
std::vector<std::string> restartEnvironment(int restarts, const std::string& lastExit, int64_t lastExitUnixMs);

}  // namespace tnet::supervisor
