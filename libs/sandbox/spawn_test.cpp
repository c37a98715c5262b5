#include "libs/sandbox/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "libs/sandbox/isolation.h"

namespace tnet::sandbox {
namespace {

struct Output {
  pid_t pid = 0;
  int status = 0;
  std::string text;
};

// Runs `sh -c script` via spawnSandboxed with fd 3 connected to a pipe we read to EOF.
Result<Output> runShell(const std::string& script, SpawnSpec spec = {}) {
  auto exe = openExecutable("/bin/sh");
  if (!exe) return exe.error();
  int p[2];
  EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
  spec.executableFd = *exe;
  spec.argv = {"sh", "-c", script};
  spec.passFds.insert(spec.passFds.begin(), p[1]);
  auto pid = spawnSandboxed(spec);
  close(p[1]);
  close(*exe);
  if (!pid) {
    close(p[0]);
    return pid.error();
  }
  Output out;
  out.pid = *pid;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) out.text.append(buf, static_cast<size_t>(n));
  close(p[0]);
  waitpid(*pid, &out.status, 0);
  return out;
}

TEST(Spawn, PassesOnlyHandedDescriptorsAndExactEnvironment) {
  int leakPipe[2];
  ASSERT_EQ(pipe(leakPipe), 0);
  // Deliberately not close-on-exec, and far above the handed range: the child must not see it.
  int leak[2] = {fcntl(leakPipe[0], F_DUPFD, 50), fcntl(leakPipe[1], F_DUPFD, 50)};
  close(leakPipe[0]);
  close(leakPipe[1]);
  SpawnSpec spec;
  spec.env = {"ONLY=this"};
  spec.setListenPid = true;
  auto out = runShell("echo pid=$$ >&3; env | sort >&3; test -e /proc/self/fd/" + std::to_string(leak[0]) +
                          " && echo leaked >&3; test -e /proc/self/fd/4 && echo fd4 >&3; true",
                      spec);
  close(leak[0]);
  close(leak[1]);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_TRUE(WIFEXITED(out->status));
  EXPECT_NE(out->text.find("ONLY=this\n"), std::string::npos) << out->text;
  EXPECT_NE(out->text.find("LISTEN_PID=" + std::to_string(out->pid) + "\n"), std::string::npos) << out->text;
  EXPECT_EQ(out->text.find("leaked"), std::string::npos) << out->text;
  EXPECT_EQ(out->text.find("fd4"), std::string::npos) << out->text;
  EXPECT_EQ(out->text.find("HOME="), std::string::npos) << out->text;
}

TEST(Spawn, SetsNoNewPrivsWithoutRoot) {
  auto out = runShell("grep NoNewPrivs /proc/self/status >&3");
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_NE(out->text.find("NoNewPrivs:\t1"), std::string::npos) << out->text;
}

TEST(Spawn, RejectsMissingAndNonExecutableFiles) {
  auto missing = openExecutable("/nonexistent/tnet-binary");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/tnet-binary"), std::string::npos);
  char path[] = "/tmp/tnet-spawn-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  chmod(path, 0644);
  auto notExec = openExecutable(path);
  unlink(path);
  ASSERT_FALSE(notExec);
  EXPECT_NE(notExec.error().message.find("not an executable"), std::string::npos);
  auto dir = openExecutable("/tmp");
  ASSERT_FALSE(dir);
}

TEST(Spawn, ReportsTheFailingStep) {
  char path[] = "/tmp/tnet-spawn-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  chmod(path, 0644);
  SpawnSpec spec;
  spec.executableFd = open(path, O_PATH | O_CLOEXEC);
  spec.argv = {"x"};
  auto pid = spawnSandboxed(spec);
  close(spec.executableFd);
  unlink(path);
  ASSERT_FALSE(pid);
  EXPECT_NE(pid.error().message.find("execveat"), std::string::npos) << pid.error().message;
}

TEST(Spawn, RootDropsToIdentityWithNoCapabilities) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch identity";
  SpawnSpec spec;
  spec.identity = Identity{65534, 65534};
  spec.network = NetworkIsolation::PRIVATE;
  auto exe = openExecutable("/bin/sleep");
  ASSERT_TRUE(exe);
  spec.executableFd = *exe;
  spec.argv = {"sleep", "5"};
  auto pid = spawnSandboxed(spec);
  close(*exe);
  ASSERT_TRUE(pid) << pid.error().message;
  auto facts = readIsolationFacts(*pid);
  auto host = netnsInode();
  kill(*pid, SIGKILL);
  waitpid(*pid, nullptr, 0);
  ASSERT_TRUE(facts) << facts.error().message;
  ASSERT_TRUE(host);
  EXPECT_EQ(facts->uid, 65534u);
  EXPECT_EQ(facts->gid, 65534u);
  EXPECT_TRUE(facts->noNewPrivs);
  EXPECT_EQ(facts->capEff, 0u);
  EXPECT_EQ(facts->capBnd, 0u);
  EXPECT_NE(facts->netnsInode, *host);
  EXPECT_TRUE(facts->nonLoopbackInterfaces.empty());
}

TEST(Spawn, UnprivilegedUserNetworkNamespaceKeepsIdentity) {
  // As root, check the unprivileged path from a child that first becomes nobody.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t tester = fork();
  ASSERT_GE(tester, 0);
  if (tester == 0) {
    close(p[0]);
    if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
                           setresuid(65534, 65534, 65534) != 0))
      _exit(2);
    if (!userNetworkNamespacesAvailable()) _exit(3);
    auto exe = openExecutable("/bin/sleep");
    if (!exe) _exit(4);
    SpawnSpec spec;
    spec.executableFd = *exe;
    spec.argv = {"sleep", "5"};
    spec.network = NetworkIsolation::PRIVATE_USER;
    auto pid = spawnSandboxed(spec);
    if (!pid) _exit(5);
    auto facts = readIsolationFacts(*pid);
    auto host = netnsInode();
    kill(*pid, SIGKILL);
    waitpid(*pid, nullptr, 0);
    if (!facts || !host) _exit(6);
    uint64_t values[4] = {facts->uid, geteuid(), facts->netnsInode == *host ? 1u : 0u, facts->capEff};
    if (write(p[1], values, sizeof(values)) != sizeof(values)) _exit(7);
    _exit(0);
  }
  close(p[1]);
  uint64_t values[4] = {};
  ssize_t got = read(p[0], values, sizeof(values));
  close(p[0]);
  int status = 0;
  waitpid(tester, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 3) GTEST_SKIP() << "kernel refuses unprivileged user namespaces";
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof(values)));
  EXPECT_EQ(values[0], values[1]) << "uid inside must map to our own";
  EXPECT_EQ(values[2], 0u) << "network namespace must differ from the parent's";
  EXPECT_EQ(values[3], 0u) << "no capabilities after exec";
}

TEST(Spawn, ChildDiesWithItsParent) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t middle = fork();
  ASSERT_GE(middle, 0);
  if (middle == 0) {
    auto exe = openExecutable("/bin/sleep");
    if (!exe) _exit(1);
    SpawnSpec spec;
    spec.executableFd = *exe;
    spec.argv = {"sleep", "30"};
    auto pid = spawnSandboxed(spec);
    if (!pid) _exit(1);
    pid_t child = *pid;
    if (write(p[1], &child, sizeof(child)) != sizeof(child)) _exit(1);
    pause();
    _exit(0);
  }
  close(p[1]);
  pid_t child = 0;
  ASSERT_EQ(read(p[0], &child, sizeof(child)), static_cast<ssize_t>(sizeof(child)));
  close(p[0]);
  kill(middle, SIGKILL);
  waitpid(middle, nullptr, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string content;
    std::getline(stat, content);
    // Gone, or a zombie waiting for init to reap it.
    gone = content.empty() || content.find(") Z ") != std::string::npos;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone);
}

}  // namespace
}  // namespace tnet::sandbox
