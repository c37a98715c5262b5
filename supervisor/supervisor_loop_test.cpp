// The supervision loop with tiny time limits, run in a forked child (it owns signals and
// children): never-ready services, crash loops with backoff, spawn failures, the start limit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "libs/log/log.h"
#include "libs/sandbox/spawn.h"
#include "supervisor/filesystem.h"
#include "supervisor/supervisor.h"

namespace tnet::supervisor {
namespace {

struct LoopResult {
  int status = -1;
  std::string log;
};

// Runs one service (wgd's slot) under a Supervisor with `policy`; `exe`/`argv` is the program.
LoopResult runLoop(const std::string& exe, std::vector<std::string> argv, RestartPolicy policy,
                   bool rawOpen = false) {
  char dirTmpl[] = "/tmp/tnet-loop-XXXXXX";
  std::string dir = mkdtemp(dirTmpl);
  std::string logPath = dir + "/log";
  pid_t pid = fork();
  if (pid == 0) {
    int logFd = open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(logFd, 2);
    log::init("tailnetd", 1);
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    int sigFd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    auto notifyFd = bindNotifySocket(dir + "/notify");
    if (!notifyFd || sigFd < 0) _exit(90);
    ServiceLaunch l;
    l.info = findService("wgd");
    if (rawOpen) {
      l.executableFd = open(exe.c_str(), O_PATH | O_CLOEXEC);
    } else {
      auto fd = sandbox::openExecutable(exe);
      if (!fd) _exit(91);
      l.executableFd = *fd;
    }
    l.argv = std::move(argv);
    l.env = {"NOTIFY_SOCKET=" + dir + "/notify"};
    std::vector<ServiceLaunch> launches;
    launches.push_back(std::move(l));
    Supervisor s(std::move(launches), sigFd, *notifyFd, policy);
    _exit(s.run());
  }
  LoopResult r;
  for (int i = 0; i < 1000; ++i) {  // 10 s
    if (waitpid(pid, &r.status, WNOHANG) == pid) break;
    usleep(10'000);
    if (i == 999) {
      kill(pid, SIGKILL);
      waitpid(pid, &r.status, 0);
    }
  }
  std::ifstream in(logPath);
  std::stringstream ss;
  ss << in.rdbuf();
  r.log = ss.str();
  std::filesystem::remove_all(dir);
  return r;
}

RestartPolicy fastPolicy() {
  RestartPolicy p;
  p.initialDelay = std::chrono::milliseconds(50);
  p.maxDelay = std::chrono::milliseconds(150);
  p.readyTimeout = std::chrono::milliseconds(200);
  p.startLimitBurst = 4;
  p.startLimitInterval = std::chrono::milliseconds(60'000);
  p.stopGrace = std::chrono::milliseconds(500);
  return p;
}

TEST(SupervisorLoop, CrashLoopBacksOffThenHitsTheStartLimit) {
  auto r = runLoop("/bin/false", {"wgd"}, fastPolicy());
  ASSERT_TRUE(WIFEXITED(r.status)) << r.log;
  EXPECT_EQ(WEXITSTATUS(r.status), 1) << r.log;
  EXPECT_NE(r.log.find("service.exit svc=wgd"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("status=\"exit 1\""), std::string::npos) << r.log;
  size_t a = r.log.find("service.restart svc=wgd in_ms=50");
  size_t b = r.log.find("service.restart svc=wgd in_ms=100");
  size_t c = r.log.find("service.restart svc=wgd in_ms=150");  // capped at maxDelay
  ASSERT_NE(a, std::string::npos) << r.log;
  ASSERT_NE(b, std::string::npos) << r.log;
  ASSERT_NE(c, std::string::npos) << r.log;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(r.log.find("service.start-limit svc=wgd starts=4"), std::string::npos) << r.log;
}

TEST(SupervisorLoop, NeverReadyServiceIsKilledAndRestarted) {
  auto r = runLoop("/bin/sleep", {"wgd", "30"}, fastPolicy());
  ASSERT_TRUE(WIFEXITED(r.status)) << r.log;
  EXPECT_EQ(WEXITSTATUS(r.status), 1);
  EXPECT_NE(r.log.find("service.not-ready svc=wgd"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("signal 9"), std::string::npos) << r.log;
  EXPECT_NE(r.log.find("service.start-limit"), std::string::npos) << r.log;
  EXPECT_EQ(r.log.find("service.ready"), std::string::npos) << r.log;
}

TEST(SupervisorLoop, SpawnFailureCountsAsACrash) {
  char tmpl[] = "/tmp/tnet-noexec-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  chmod(tmpl, 0644);
  auto r = runLoop(tmpl, {"wgd"}, fastPolicy(), true);
  unlink(tmpl);
  ASSERT_TRUE(WIFEXITED(r.status)) << r.log;
  EXPECT_EQ(WEXITSTATUS(r.status), 1);
  EXPECT_NE(r.log.find("service.spawn-failed svc=wgd error=\"execveat: Permission denied\""),
            std::string::npos)
      << r.log;
  EXPECT_NE(r.log.find("service.start-limit"), std::string::npos) << r.log;
}

TEST(SupervisorLoop, RestartedServiceIsToldWhyItsPredecessorEnded) {
  char tmpl[] = "/tmp/tnet-restart-env-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  // Each instance appends what it was told, then the first exits 3 and later ones die of SIGSEGV.
  std::string script = std::string("echo \"${TAILNETD_RESTARTS-unset}|${TAILNETD_LAST_EXIT-unset}|") +
                       "${TAILNETD_LAST_EXIT_UNIX_MS-unset}\" >> " + tmpl +
                       "; [ -z \"$TAILNETD_RESTARTS\" ] && exit 3; kill -SEGV $$";
  int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto r = runLoop("/bin/sh", {"sh", "-c", script}, fastPolicy());
  std::ifstream in(tmpl);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  unlink(tmpl);
  ASSERT_TRUE(WIFEXITED(r.status)) << r.log;
  ASSERT_EQ(lines.size(), 4u) << r.log;  // startLimitBurst
  EXPECT_EQ(lines[0], "unset|unset|unset");
  auto fields = [](const std::string& l) {
    std::vector<std::string> f;
    std::stringstream ss(l);
    for (std::string x; std::getline(ss, x, '|');) f.push_back(x);
    return f;
  };
  auto second = fields(lines[1]);
  ASSERT_EQ(second.size(), 3u) << lines[1];
  EXPECT_EQ(second[0], "1");
  EXPECT_EQ(second[1], "exit 3");
  EXPECT_GE(std::stoll(second[2]), before);
  auto fourth = fields(lines[3]);
  ASSERT_EQ(fourth.size(), 3u) << lines[3];
  EXPECT_EQ(fourth[0], "3");
  EXPECT_EQ(fourth[1], "signal 11 (Segmentation fault)");
  EXPECT_GE(std::stoll(fourth[2]), std::stoll(second[2]));
}

TEST(SupervisorLoop, RestartEnvironmentOnlyAfterAnExit) {
  EXPECT_TRUE(restartEnvironment(0, "", 0).empty());
  EXPECT_TRUE(restartEnvironment(2, "", 0).empty());  // only spawn failures so far
  EXPECT_EQ(restartEnvironment(2, "signal 31 (Bad system call; killed by seccomp)", 1700000000123),
            (std::vector<std::string>{"TAILNETD_RESTARTS=2",
                                      "TAILNETD_LAST_EXIT=signal 31 (Bad system call; killed by seccomp)",
                                      "TAILNETD_LAST_EXIT_UNIX_MS=1700000000123"}));
}

TEST(SupervisorLoop, DescribesWaitStatuses) {
  EXPECT_EQ(describeWaitStatus(3 << 8), "exit 3");
  EXPECT_EQ(describeWaitStatus(SIGKILL), "signal 9 (Killed)");
}

}  // namespace
}  // namespace tnet::supervisor
