#include "supervisor/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "libs/log/log.h"
#include "supervisor/config_handoff.h"

namespace tnet::supervisor {
namespace {

long long msSince(Clock::time_point t, Clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
}

// argv[0] of a process, for matching the READY of a service started by hand.
std::string processName(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string arg0;
  std::getline(in, arg0, '\0');
  auto slash = arg0.rfind('/');
  return slash == std::string::npos ? arg0 : arg0.substr(slash + 1);
}

}  // namespace

std::string describeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* d = sigdescr_np(sig);
    // A seccomp allow-list kill (SECCOMP_RET_KILL_PROCESS) is the only SIGSYS a service gets;
    // the parent cannot see which call it was (the kernel's audit record names it).
    std::string why = sig == SIGSYS ? "; killed by seccomp" : "";
    return "signal " + std::to_string(sig) + (d ? std::string(" (") + d + why + ")" : "");
  }
  return "status " + std::to_string(status);
}

std::vector<std::string> restartEnvironment(int restarts, const std::string& lastExit, int64_t lastExitUnixMs) {
  if (restarts <= 0 || lastExit.empty()) return {};  // a spawn failure leaves no exit to tell
  return {"TAILNETD_RESTARTS=" + std::to_string(restarts), "TAILNETD_LAST_EXIT=" + lastExit,
          "TAILNETD_LAST_EXIT_UNIX_MS=" + std::to_string(lastExitUnixMs)};
}

Supervisor::Supervisor(std::vector<ServiceLaunch> launches, int signalFd, int notifyFd, RestartPolicy policy)
    : signalFd_(signalFd), notifyFd_(notifyFd), policy_(policy) {
  for (auto& l : launches) {
    Child c;
    c.launch = std::move(l);
    c.delay = policy_.initialDelay;
    children_.push_back(std::move(c));
  }
}

int Supervisor::run() {
  runStarted_ = Clock::now();
  startNextInOrder();
  while (!stopRequested_ && !fatal_) {
    auto now = Clock::now();
    auto next = nextDeadline();
    int timeout = -1;
    if (next != Clock::time_point::max()) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
      timeout = static_cast<int>(std::clamp<long long>(ms + 1, 0, 60'000));
    }
    pollfd fds[2] = {{signalFd_, POLLIN, 0}, {notifyFd_, POLLIN, 0}};
    int n = poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) {
      log::logger().error("supervisor.poll error={}", std::strerror(errno));
      fatal_ = true;
      break;
    }
    if (n > 0 && (fds[0].revents & POLLIN)) handleSignals();
    if (n > 0 && (fds[1].revents & POLLIN)) handleNotify();
    if (!stopRequested_ && !fatal_) handleTimers(Clock::now());
  }
  stopAll();
  return fatal_ ? 1 : 0;
}

void Supervisor::startNextInOrder() {
  while (cursor_ < children_.size()) {
    Child& c = children_[cursor_];
    if (c.launch.external) {
      if (c.state == State::IDLE) {
        c.state = State::EXTERNAL_WAITING;
        std::string cmd;
        for (const auto& e : c.launch.env) cmd += e + " ";
        for (const auto& a : c.launch.argv) cmd += a + " ";
        log::logger().warn("service.external svc={} waiting for READY=1; start it with: {}", name(c), cmd);
        nextExternalCheck_ = Clock::now() + std::chrono::seconds(1);
      }
      ++cursor_;
      continue;
    }
    if (c.state == State::IDLE) spawn(c);
    if (c.state != State::READY) return;  // wait for its READY (or its restart)
    ++cursor_;
  }
  checkSuiteReady();
}

void Supervisor::spawn(Child& c) {
  auto now = Clock::now();
  sandbox::SpawnSpec spec;
  spec.executableFd = c.launch.executableFd;
  spec.argv = c.launch.argv;
  spec.env = c.launch.env;
  // c.starts counts earlier starts: the first start gets nothing, the n-th restart gets n.
  for (auto& e : restartEnvironment(c.starts, c.lastExit, c.lastExitUnixMs)) spec.env.push_back(std::move(e));
  spec.passFds = c.launch.passFds;
  spec.setListenPid = c.launch.setListenPid;
  spec.identity = c.launch.identity;
  spec.network = c.launch.network;
  int configFd = -1;
  if (c.launch.configDocument != nullptr) {
    auto pipeFd = makeConfigPipe(*c.launch.configDocument);
    if (!pipeFd) {
      log::logger().error("service.spawn-failed svc={} error={}", name(c),
                          log::quote(pipeFd.error().message));
      c.recentStarts.push_back(now);
      scheduleRestart(c, now);
      return;
    }
    configFd = *pipeFd;
    spec.passFds.push_back(configFd);
  }
  c.recentStarts.push_back(now);
  ++c.starts;
  auto pid = sandbox::spawnSandboxed(spec);
  if (configFd >= 0) close(configFd);
  if (!pid) {
    log::logger().error("service.spawn-failed svc={} error={}", name(c), log::quote(pid.error().message));
    scheduleRestart(c, now);
    return;
  }
  c.pid = *pid;
  c.state = State::STARTING;
  c.startedAt = now;
  c.deadline = now + policy_.readyTimeout;
  log::logger().info("service.start svc={} pid={} start={}", name(c), c.pid, c.starts);
}

void Supervisor::scheduleRestart(Child& c, Clock::time_point now) {
  c.pid = 0;
  while (!c.recentStarts.empty() && now - c.recentStarts.front() > policy_.startLimitInterval) {
    c.recentStarts.pop_front();
  }
  if (static_cast<int>(c.recentStarts.size()) >= policy_.startLimitBurst) {
    log::logger().error("service.start-limit svc={} starts={} within_s={}: giving up, stopping the suite",
                        name(c), c.recentStarts.size(),
                        std::chrono::duration_cast<std::chrono::seconds>(policy_.startLimitInterval).count());
    c.state = State::STOPPED;
    fatal_ = true;
    return;
  }
  if (c.startedAt != Clock::time_point{} && now - c.startedAt >= policy_.stableAfter) {
    c.delay = policy_.initialDelay;
  }
  c.state = State::WAITING_RESTART;
  c.deadline = now + c.delay;
  log::logger().warn("service.restart svc={} in_ms={}", name(c), c.delay.count());
  c.delay = std::min(c.delay * 2, policy_.maxDelay);
}

void Supervisor::handleSignals() {
  signalfd_siginfo info;
  while (read(signalFd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) {
      reapChildren();
    } else if (sig == SIGTERM || sig == SIGINT) {
      log::logger().info("supervisor.stop signal={}", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
      stopRequested_ = true;
    } else {
      log::logger().info("supervisor.signal-ignored signal={}", sig);
    }
  }
  reapChildren();  // SIGCHLDs coalesce: always reap everything that is waiting
}

void Supervisor::reapChildren() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    onExit(pid, status);
  }
}

void Supervisor::onExit(pid_t pid, int status) {
  Child* c = byPid(pid);
  if (c == nullptr) return;
  auto now = Clock::now();
  log::logger().warn("service.exit svc={} pid={} status={} uptime_ms={}", name(*c), pid,
                     log::quote(describeWaitStatus(status)), msSince(c->startedAt, now));
  c->lastExit = describeWaitStatus(status);
  c->lastExitUnixMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (stopRequested_) {
    c->state = State::STOPPED;
    c->pid = 0;
    return;
  }
  scheduleRestart(*c, now);
}

void Supervisor::handleNotify() {
  for (;;) {
    char buf[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(sizeof(int) * 16)];
    iovec iov{buf, sizeof(buf) - 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(notifyFd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) return;
    pid_t sender = 0;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != SOL_SOCKET) continue;
      if (cm->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
        sender = cred.pid;
      } else if (cm->cmsg_type == SCM_RIGHTS) {
        // We keep no descriptor store: close whatever was sent.
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
          close(fd);
        }
      }
    }
    if (sender <= 0) continue;
    std::string_view text(buf, static_cast<size_t>(n));
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t nl = text.find('\n', pos);
      std::string_view line =
          text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      if (line == "READY=1")
        onReady(sender);
      else if (line.rfind("STATUS=", 0) == 0) {
        Child* c = byPid(sender);
        log::logger().debug("service.status svc={} {}", c ? name(*c) : "?", log::quote(line.substr(7)));
      }
      if (nl == std::string_view::npos) break;
      pos = nl + 1;
    }
  }
}

void Supervisor::onReady(pid_t pid) {
  auto now = Clock::now();
  if (Child* c = byPid(pid)) {
    if (c->state != State::STARTING) return;
    c->state = State::READY;
    c->deadline = Clock::time_point::max();
    log::logger().info("service.ready svc={} pid={} ms={}", name(*c), pid, msSince(c->startedAt, now));
    startNextInOrder();
    return;
  }
  // Not ours: perhaps a service started by hand for --external.
  bool anyExternal =
      std::any_of(children_.begin(), children_.end(), [](const Child& c) { return c.launch.external; });
  std::string who = anyExternal ? processName(pid) : std::string();
  for (auto& c : children_) {
    if (c.launch.external && c.launch.info->name == who &&
        (c.state == State::EXTERNAL_WAITING || c.state == State::EXTERNAL_READY)) {
      c.state = State::EXTERNAL_READY;
      c.pid = pid;
      log::logger().info("service.ready svc={} pid={} external=1", who, pid);
      checkSuiteReady();
      return;
    }
  }
  // The socket is 0666: any local user can send to it, so what we ignore is logged rate-limited.
  if (ignoredNotifyLog_.allow()) {
    log::logger().debug("notify.ignored pid={} name={} suppressed={}", pid, log::quote(who),
                        ignoredNotifyLog_.takeSuppressed());
  }
}

void Supervisor::handleTimers(Clock::time_point now) {
  for (auto& c : children_) {
    if (c.deadline > now) continue;
    if (c.state == State::STARTING) {
      log::logger().error("service.not-ready svc={} pid={} after_ms={}: killing it", name(c), c.pid,
                          msSince(c.startedAt, now));
      kill(c.pid, SIGKILL);
      c.deadline = Clock::time_point::max();  // its exit schedules the restart
    } else if (c.state == State::WAITING_RESTART) {
      c.deadline = Clock::time_point::max();
      spawn(c);
      // A restart during the initial ordered start holds the order until it is ready again.
    }
  }
  if (now >= nextExternalCheck_) {
    nextExternalCheck_ = now + std::chrono::seconds(1);
    for (auto& c : children_) {
      if (c.state == State::EXTERNAL_READY && kill(c.pid, 0) != 0 && errno == ESRCH) {
        log::logger().warn("service.exit svc={} pid={} external=1: waiting for it again", name(c), c.pid);
        c.state = State::EXTERNAL_WAITING;
        c.pid = 0;
      }
    }
  }
}

void Supervisor::checkSuiteReady() {
  if (suiteReadyLogged_ || cursor_ < children_.size()) return;
  for (const auto& c : children_) {
    if (c.state != State::READY && c.state != State::EXTERNAL_READY) return;
  }
  suiteReadyLogged_ = true;
  log::logger().info("suite.ready services={} ms={}", children_.size(), msSince(runStarted_, Clock::now()));
  sd_notify(0, "READY=1");  // for a unit of Type=notify running tailnetd itself
}

Clock::time_point Supervisor::nextDeadline() const {
  auto next = nextExternalCheck_;
  for (const auto& c : children_) next = std::min(next, c.deadline);
  return next;
}

Supervisor::Child* Supervisor::byPid(pid_t pid) {
  for (auto& c : children_) {
    if (c.pid == pid && !c.launch.external) return &c;
  }
  return nullptr;
}

void Supervisor::stopAll() {
  stopRequested_ = true;
  sd_notify(0, "STOPPING=1");
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    Child& c = *it;
    if (c.launch.external || c.pid <= 0 || (c.state != State::STARTING && c.state != State::READY)) continue;
    auto began = Clock::now();
    pid_t pid = c.pid;
    kill(pid, SIGTERM);
    auto deadline = began + policy_.stopGrace;
    bool killed = false;
    while (c.pid == pid) {
      auto now = Clock::now();
      if (now >= deadline && !killed) {
        log::logger().warn("service.stop-timeout svc={} pid={}: SIGKILL", name(c), pid);
        kill(pid, SIGKILL);
        killed = true;
      }
      int ms = killed
                   ? 1000
                   : static_cast<int>(
                         std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1);
      pollfd pfd{signalFd_, POLLIN, 0};
      poll(&pfd, 1, ms);
      signalfd_siginfo info;
      while (read(signalFd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
      }
      reapChildren();
    }
    log::logger().info("service.stopped svc={} ms={}", name(c), msSince(began, Clock::now()));
  }
  reapChildren();
}

}  // namespace tnet::supervisor
