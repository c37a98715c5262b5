// Test helpers for bus tests: a temporary runtime dir and a loop driver.
#pragma once

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
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

// Runs `body` in a forked child after dropping to uid/gid (supplementary groups cleared);
// returns the child's exit code (90 if the drop failed, 100+signal if it died).
inline int runAs(uid_t uid, gid_t gid, const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
      _exit(90);
    }
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

}  // namespace tnet::bus::testing
