// Contract test as root: the real wgd binary running as tailnetd-wgd (group tailnetd) reports
// its own uid in wgd.health, answers sys.health for ipnd's uid and refuses apid's uid with
// Error{denied} plus a wgd.violation event. Skips with a reason when not root or users missing.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "libs/bus/bus.h"
#include "libs/bus/bus_test_util.h"
#include "libs/bus/endpoints.h"
#include "schemas/common.capnp.h"

namespace tnet {
namespace {

using namespace std::chrono_literals;
using bus::testing::ChildAs;
using bus::testing::runUntil;
using bus::testing::TempRuntime;

std::string wgdBinary() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "wgd").string();
}

uid_t uidOf(const char* name) {
  struct passwd* pw = getpwnam(name);
  return pw ? pw->pw_uid : static_cast<uid_t>(-1);
}

// Calls sys.health on wgd (run in a ChildAs as the caller's uid); returns 0 ok, 1 denied, other
// codes for anything else.
int callHealth(const std::string& runtime) {
  bus::Loop loop;
  auto b = bus::Bus::create(loop, bus::BusOptions{runtime, "operator"});
  if (!b) return 10;
  std::optional<Result<bus::Reply>> r;
  (*b)->call(
      "wgd", "sys.health", [](auto p) { p.template initAs<schema::Empty>(); }, 3000ms,
      [&](Result<bus::Reply> res) { r = std::move(res); });
  runUntil(
      loop, [&] { return r.has_value(); }, 5000ms);
  if (!r) return 11;
  if (*r) return 0;
  return r->error().kind == ErrorKind::DENIED ? 1 : 12;
}

TEST(WgdRootContract, RunsAsItsUserAndEnforcesCallerAcls) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run wgd as tailnetd-wgd";
  uid_t wgdUid = uidOf("tailnetd-wgd"), ipndUid = uidOf("tailnetd-ipnd"), apidUid = uidOf("tailnetd-apid");
  struct group* grp = getgrnam("tailnetd");
  if (wgdUid == uid_t(-1) || ipndUid == uid_t(-1) || apidUid == uid_t(-1) || !grp) {
    GTEST_SKIP() << "users missing: run systemd-sysusers packaging/sysusers.d/tailnetd.conf";
  }
  gid_t gid = grp->gr_gid;
  TempRuntime rt;
  ASSERT_EQ(chmod(rt.path().c_str(), 0755), 0);
  // What the supervisor prepares: <runtime>/wgd 0750 tailnetd-wgd:tailnetd, a private state dir.
  std::string dir = rt.path() + "/wgd", state = rt.path() + "/state";
  ASSERT_EQ(mkdir(dir.c_str(), 0750), 0);
  ASSERT_EQ(chown(dir.c_str(), wgdUid, gid), 0);
  ASSERT_EQ(mkdir(state.c_str(), 0700), 0);
  ASSERT_EQ(chown(state.c_str(), wgdUid, gid), 0);
  std::string notifyPath = rt.path() + "/notify";
  int notifyFd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", notifyPath.c_str());
  ASSERT_EQ(bind(notifyFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(chmod(notifyPath.c_str(), 0666), 0);

  std::string bin = wgdBinary(), runtime = rt.path();
  // The callers fork now, before this process has any ZeroMQ thread (bus_test_util.h: ChildAs).
  ChildAs asIpnd(ipndUid, gid, [&] { return callHealth(runtime); });
  ChildAs asApid(apidUid, gid, [&] { return callHealth(runtime); });
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(wgdUid, wgdUid, wgdUid) != 0) {
      _exit(90);
    }
    setenv("NOTIFY_SOCKET", notifyPath.c_str(), 1);
    execl(bin.c_str(), "wgd", "--runtime-dir", runtime.c_str(), "--state-dir", state.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  pollfd p{notifyFd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, static_cast<int>(bus::testing::scaled(5000ms).count())), 1) << "no READY";
  char buf[64];
  ssize_t n = recv(notifyFd, buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "READY=1");
  struct stat st {};
  ASSERT_EQ(stat(bus::requestEndpointPath(runtime, "wgd").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, wgdUid);
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  bus::Loop loop;
  auto op = bus::Bus::create(loop, bus::BusOptions{runtime, "operator"});
  ASSERT_TRUE(op);
  std::optional<uint32_t> healthUid;
  std::vector<std::string> violations;
  (*op)->subscribe("wgd.health", [&](const bus::Event& ev) {
    healthUid = ev.as<schema::Health>().getIsolation().getUid();
  });
  (*op)->subscribe("wgd.violation", [&](const bus::Event& ev) {
    auto v = ev.as<schema::Violation>();
    violations.push_back(std::string(v.getCaller().cStr()) + " " + v.getMethod().cStr());
  });
  ASSERT_TRUE(runUntil(
      loop, [&] { return healthUid.has_value(); }, 5000ms));
  EXPECT_EQ(*healthUid, wgdUid);
  // Let the violation subscription go live (hello arrives each second).
  ASSERT_TRUE(runUntil(
      loop, [&] { return (*op)->stats().eventsReceived > 1; }, 3000ms));

  asIpnd.start();
  ASSERT_TRUE(runUntil(
      loop, [&] { return asIpnd.poll().has_value(); }, 10000ms));
  asApid.start();
  ASSERT_TRUE(runUntil(
      loop, [&] { return asApid.poll().has_value() && !violations.empty(); }, 10000ms));
  EXPECT_EQ(asIpnd.poll(), 0) << "ipnd may call sys.health";
  EXPECT_EQ(asApid.poll(), 1) << "apid may not call sys.health";
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0], "apid sys.health");

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(std::filesystem::exists(bus::requestEndpointPath(runtime, "wgd")));
  close(notifyFd);
}

}  // namespace
}  // namespace tnet
