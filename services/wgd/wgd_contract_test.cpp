// Contract test: the real wgd binary starts with the argv contract, sends READY=1 to
// NOTIFY_SOCKET once bound, publishes retained wgd.health with its own isolation facts, serves
// sys.*, re-snapshots when ipnd restarts, and exits cleanly on SIGTERM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "libs/bus/bus.h"
#include "libs/bus/bus_test_util.h"
#include "libs/bus/endpoints.h"
#include "schemas/common.capnp.h"

namespace tnet {
namespace {

using namespace std::chrono_literals;
using bus::testing::runUntil;
using bus::testing::TempRuntime;

// Every executable lands in <build>/bin: wgd is beside this test.
std::string wgdBinary() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "wgd").string();
}

class WgdProcess {
 public:
  WgdProcess(const std::string& runtime, const std::string& state, const std::string& notify) {
    pid_ = fork();
    if (pid_ == 0) {
      setenv("NOTIFY_SOCKET", notify.c_str(), 1);
      std::string bin = wgdBinary();
      execl(bin.c_str(), "wgd", "--runtime-dir", runtime.c_str(), "--state-dir", state.c_str(), "--log-level",
            "1", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~WgdProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits; returns the exit code (or -signal).
  int terminate() {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      usleep(10000);
    }
    return -1000;
  }

 private:
  pid_t pid_ = -1;
};

// The supervisor's side of readiness: a datagram socket with SO_PASSCRED.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  }
  ~NotifySocket() { close(fd_); }

  // Waits for one datagram; returns its text and the sender pid.
  std::optional<std::pair<std::string, pid_t>> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(bus::testing::scaled(timeout).count())) != 1) return std::nullopt;
    char buf[512];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd_, &msg, 0);
    if (n < 0) return std::nullopt;
    pid_t pid = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        pid = cred.pid;
      }
    }
    return std::make_pair(std::string(buf, static_cast<size_t>(n)), pid);
  }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(WgdContract, ReadyHealthSysResyncAndCleanShutdown) {
  ASSERT_TRUE(std::filesystem::exists(wgdBinary())) << wgdBinary();
  TempRuntime rt;
  std::string state = rt.path() + "/state";
  NotifySocket notify(rt.path() + "/notify");
  WgdProcess wgd(rt.path(), state, rt.path() + "/notify");

  auto ready = notify.receive(5000ms);
  ASSERT_TRUE(ready) << "no READY=1 on NOTIFY_SOCKET";
  EXPECT_NE(ready->first.find("READY=1"), std::string::npos) << ready->first;
  EXPECT_EQ(ready->second, wgd.pid());
  // READY means bound: the endpoints exist now.
  EXPECT_TRUE(std::filesystem::exists(bus::eventEndpointPath(rt.path(), "wgd")));
  EXPECT_TRUE(std::filesystem::exists(bus::requestEndpointPath(rt.path(), "wgd")));
  EXPECT_TRUE(std::filesystem::is_directory(state));

  bus::Loop loop;
  auto op = bus::Bus::create(loop, bus::BusOptions{rt.path(), "operator"});
  ASSERT_TRUE(op);
  std::optional<std::string> healthState;
  uint32_t healthPid = 0;
  bool healthFromSnapshot = false;
  (*op)->subscribe("wgd.health", [&](const bus::Event& ev) {
    auto h = ev.as<schema::Health>();
    healthState = h.getState() == schema::Health::State::OK ? "ok" : "other";
    healthPid = h.getIsolation().getPid();
    healthFromSnapshot = ev.fromSnapshot;
    EXPECT_EQ(std::string(h.getService().cStr()), "wgd");
    EXPECT_EQ(h.getIsolation().getUid(), geteuid());
  });
  ASSERT_TRUE(runUntil(
      loop, [&] { return healthState.has_value(); }, 5000ms));
  EXPECT_EQ(*healthState, "ok");
  EXPECT_EQ(healthPid, static_cast<uint32_t>(wgd.pid()));
  EXPECT_TRUE(healthFromSnapshot);  // retained: a late subscriber still gets it

  // sys.health and sys.setLogLevel (the operator may call what ipnd may).
  std::optional<Result<bus::Reply>> health, setLevel, badLevel;
  (*op)->call(
      "wgd", "sys.health", [](auto p) { p.template initAs<schema::Empty>(); }, 3000ms,
      [&](Result<bus::Reply> r) { health = std::move(r); });
  (*op)->call(
      "wgd", "sys.setLogLevel", [](auto p) { p.template initAs<schema::SetLogLevelParams>().setLevel(2); },
      3000ms, [&](Result<bus::Reply> r) { setLevel = std::move(r); });
  (*op)->call(
      "wgd", "sys.setLogLevel", [](auto p) { p.template initAs<schema::SetLogLevelParams>().setLevel(7); },
      3000ms, [&](Result<bus::Reply> r) { badLevel = std::move(r); });
  ASSERT_TRUE(runUntil(loop, [&] { return health && setLevel && badLevel; }));
  ASSERT_TRUE(*health) << health->error().message;
  EXPECT_EQ(health->value().as<schema::Health>().getIsolation().getPid(), static_cast<uint32_t>(wgd.pid()));
  EXPECT_TRUE(*setLevel) << setLevel->error().message;
  ASSERT_FALSE(*badLevel);
  EXPECT_EQ(badLevel->error().kind, ErrorKind::INVALID);

  // Resync: wgd subscribes to ipnd.state; each ipnd start (new epoch) brings a snapshot request.
  for (int round = 0; round < 2; ++round) {
    auto ipnd = bus::Bus::create(loop, bus::BusOptions{rt.path(), "ipnd", 100ms});
    ASSERT_TRUE(ipnd) << ipnd.error().message;
    (*ipnd)->publish("ipnd.state", [](auto p) { p.template initAs<schema::Empty>(); });
    EXPECT_TRUE(runUntil(
        loop, [&] { return (*ipnd)->stats().requestsServed >= 1; }, 5000ms))
        << "round " << round << ": wgd did not snapshot ipnd";
  }

  EXPECT_EQ(wgd.terminate(), 0);
  EXPECT_FALSE(std::filesystem::exists(bus::eventEndpointPath(rt.path(), "wgd")));
  EXPECT_FALSE(std::filesystem::exists(bus::requestEndpointPath(rt.path(), "wgd")));
}

TEST(WgdContract, UsageErrorsExitWithCode2) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string bin = wgdBinary();
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    dup2(devnull, 1);
    execl(bin.c_str(), "wgd", "--log-level", "5", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
}  // namespace tnet

namespace tnet {
namespace {

// Runs bin/wgd with `args` to completion (it must exit by itself); returns exit code and stderr.
std::pair<int, std::string> runWgdToExit(const std::vector<std::string>& args) {
  int err[2];
  if (pipe(err) != 0) return {-1, ""};
  std::string bin = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "wgd").string();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], 2);
    close(err[0]);
    std::vector<char*> argv{const_cast<char*>("wgd")};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(err[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(err[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(WgdContract, StartFailuresExitOneWithAClearLine) {
  TempRuntime rt;
  std::string longDir = rt.path() + "/" + std::string(100, 'r');
  auto [code, err] = runWgdToExit({"--runtime-dir", longDir, "--state-dir", rt.path() + "/s"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(err.find("unix sockets allow at most 107"), std::string::npos) << err;

  // A second wgd on the same runtime dir refuses to steal the running one's endpoints.
  NotifySocket notify(rt.path() + "/notify");
  WgdProcess first(rt.path(), rt.path() + "/s1", rt.path() + "/notify");
  ASSERT_TRUE(notify.receive(5000ms));
  auto [code2, err2] = runWgdToExit({"--runtime-dir", rt.path(), "--state-dir", rt.path() + "/s2"});
  EXPECT_EQ(code2, 1);
  EXPECT_NE(err2.find("another instance"), std::string::npos) << err2;
  EXPECT_TRUE(std::filesystem::exists(bus::requestEndpointPath(rt.path(), "wgd")));
  EXPECT_EQ(first.terminate(), 0);
}

}  // namespace
}  // namespace tnet
