// Test helpers for bus tests: a temporary runtime dir and a loop driver.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "libs/bus/loop.h"

namespace tnet::bus::testing {

inline double timeScale() {
  const char* s = std::getenv("TAILNETD_TEST_TIME_SCALE");
  double v = s ? std::atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}

inline std::chrono::milliseconds scaled(std::chrono::milliseconds ms) {
  return std::chrono::milliseconds(static_cast<int64_t>(ms.count() * timeScale()));
}

class TempRuntime {
 public:
  TempRuntime() {
    char tmpl[] = "/tmp/tnet-bus-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempRuntime() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs the loop until pred() holds or the (scaled) timeout passes; returns pred().
inline bool runUntil(Loop& loop, const std::function<bool()>& pred,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  auto end = std::chrono::steady_clock::now() + scaled(timeout);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    loop.runFor(std::chrono::milliseconds(5));
  }
  return true;
}

// A child process that runs `body` as uid/gid (supplementary groups cleared) and exits with its
// result. It forks at construction, which a test must do before it creates any Loop or ZeroMQ
// context: ctest runs each test in its own process, so the process is still single-threaded
// there. Forking after ZeroMQ's I/O threads exist can leave the child stuck on a lock another
// thread held at fork time (seen under ASan, where the whole ctest run then hung on the orphan).
// The child waits on a pipe until start(); the destructor kills a child that has not ended.
class ChildAs {
 public:
  ChildAs(uid_t uid, gid_t gid, std::function<int()> body) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) std::abort();
    pid_ = fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      close(fds[1]);
      char go = 0;
      if (read(fds[0], &go, 1) != 1) _exit(91);  // the parent gave up before start()
      if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
        _exit(90);
      }
      _exit(body());
    }
    close(fds[0]);
    go_ = fds[1];
  }
  ChildAs(const ChildAs&) = delete;
  ChildAs& operator=(const ChildAs&) = delete;
  ~ChildAs() {
    if (go_ >= 0) close(go_);
    if (!status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  void start() {
    char go = 1;
    if (write(go_, &go, 1) != 1) std::abort();
    close(go_);
    go_ = -1;
  }

  // The exit code once the child has ended (90 if the drop failed, 100+signal if it died).
  std::optional<int> poll() {
    if (!status_) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int go_ = -1;
  std::optional<int> status_;
};

}  // namespace tnet::bus::testing
