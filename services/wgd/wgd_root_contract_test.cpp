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
#include <fstream>
#include <set>
#include <sstream>

#include "libs/bus/bus.h"
#include "libs/bus/bus_test_util.h"
#include "libs/bus/endpoints.h"
#include "libs/crypto/secret.h"
#include "schemas/common.capnp.h"
#include "schemas/wgd.capnp.h"

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

// Calls wgd.derpClientInfo (run in a ChildAs); 0 = a 32+24+16+32-byte frame, 1 = denied.
int callDerpClientInfo(const std::string& runtime) {
  crypto::init();
  bus::Loop loop;
  auto b = bus::Bus::create(loop, bus::BusOptions{runtime, "operator"});
  if (!b) return 10;
  const crypto::Key32 server = crypto::PrivateKey::generate().publicKey();
  std::optional<Result<bus::Reply>> r;
  (*b)->call(
      "wgd", "wgd.derpClientInfo",
      [&](auto p) {
        p.template initAs<schema::DerpClientInfoParams>().setServerPublic(
            capnp::Data::Reader(server.data(), server.size()));
      },
      3000ms, [&](Result<bus::Reply> res) { r = std::move(res); });
  runUntil(
      loop, [&] { return r.has_value(); }, 5000ms);
  if (!r) return 11;
  if (*r) return r->value().as<schema::DerpClientInfoReply>().getFrame().size() == 32 + 24 + 16 + 32 ? 0 : 13;
  return r->error().kind == ErrorKind::DENIED ? 1 : 12;
}

// Calls wgd.ping (run in a ChildAs); 0 = answered with wgd's "no self node" (no config yet),
// 1 = denied.
int callPing(const std::string& runtime) {
  bus::Loop loop;
  auto b = bus::Bus::create(loop, bus::BusOptions{runtime, "operator"});
  if (!b) return 10;
  std::optional<Result<bus::Reply>> r;
  (*b)->call(
      "wgd", "wgd.ping",
      [&](auto p) {
        auto params = p.template initAs<schema::WgPingParams>();
        params.setIp("100.64.0.2");
        params.setKind(schema::WgPingKind::TSMP);
      },
      3000ms, [&](Result<bus::Reply> res) { r = std::move(res); });
  runUntil(
      loop, [&] { return r.has_value(); }, 5000ms);
  if (!r) return 11;
  if (*r) return std::string(r->value().as<schema::WgPingReply>().getErr().cStr()) == "no self node" ? 0 : 13;
  return r->error().kind == ErrorKind::DENIED ? 1 : 12;
}

// Every socket wgd holds is a unix socket: its inodes appear in its namespace's net/unix and in
// none of tcp, udp, raw, packet or netlink (ARCHITECTURE.md: wgd never touches the network).
void expectOnlyUnixSockets(pid_t pid) {
  std::set<std::string> inodes;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  ASSERT_FALSE(inodes.empty()) << "wgd has its bus sockets";
  auto table = [&](const char* name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto hasInode = [](const std::string& text, const std::string& inode) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream words(line);
      std::string w;
      while (words >> w)
        if (w == inode) return true;
    }
    return false;
  };
  const std::string unixTable = table("unix");
  for (const auto& inode : inodes) {
    EXPECT_TRUE(hasInode(unixTable, inode)) << "socket " << inode << " is not a unix socket";
    for (const char* t :
         {"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "packet", "netlink", "udplite", "udplite6"}) {
      EXPECT_FALSE(hasInode(table(t), inode)) << "socket " << inode << " is in net/" << t;
    }
  }
}

TEST(WgdRootContract, RunsAsItsUserAndEnforcesCallerAcls) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run wgd as tailnetd-wgd";
  uid_t wgdUid = uidOf("tailnetd-wgd"), ipndUid = uidOf("tailnetd-ipnd"), apidUid = uidOf("tailnetd-apid"),
        magicsockdUid = uidOf("tailnetd-magicsockd");
  struct group* grp = getgrnam("tailnetd");
  if (wgdUid == uid_t(-1) || ipndUid == uid_t(-1) || apidUid == uid_t(-1) || magicsockdUid == uid_t(-1) ||
      !grp) {
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
  ChildAs clientInfoAsMagicsockd(magicsockdUid, gid, [&] { return callDerpClientInfo(runtime); });
  ChildAs clientInfoAsIpnd(ipndUid, gid, [&] { return callDerpClientInfo(runtime); });
  ChildAs pingAsIpnd(ipndUid, gid, [&] { return callPing(runtime); });
  ChildAs pingAsMagicsockd(magicsockdUid, gid, [&] { return callPing(runtime); });
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

  // The node key: the operator (root) plays ipnd's part; then only magicsockd may have the
  // ClientInfo sealed.
  std::optional<Result<bus::Reply>> prepared, committed;
  (*op)->call(
      "wgd", "wgd.prepareNodeKey", [](auto p) { p.template initAs<schema::Empty>(); }, 3000ms,
      [&](Result<bus::Reply> r) { prepared = std::move(r); });
  ASSERT_TRUE(runUntil(
      loop, [&] { return prepared.has_value(); }, 5000ms));
  ASSERT_TRUE(*prepared) << prepared->error().message;
  const std::string nodePublic = prepared->value().as<schema::NodeKey>().getNodePublic().cStr();
  (*op)->call(
      "wgd", "wgd.commitNodeKey",
      [&](auto p) { p.template initAs<schema::NodeKey>().setNodePublic(nodePublic); }, 3000ms,
      [&](Result<bus::Reply> r) { committed = std::move(r); });
  ASSERT_TRUE(runUntil(
      loop, [&] { return committed.has_value(); }, 5000ms));
  ASSERT_TRUE(*committed) << committed->error().message;
  struct stat keySt {};
  ASSERT_EQ(stat((state + "/node.key").c_str(), &keySt), 0);
  EXPECT_EQ(keySt.st_uid, wgdUid);
  EXPECT_EQ(keySt.st_mode & 0777, 0600u);
  clientInfoAsMagicsockd.start();
  clientInfoAsIpnd.start();
  ASSERT_TRUE(runUntil(
      loop,
      [&] { return clientInfoAsMagicsockd.poll() && clientInfoAsIpnd.poll() && violations.size() >= 2; },
      10000ms));
  EXPECT_EQ(clientInfoAsMagicsockd.poll(), 0) << "magicsockd may have its DERP ClientInfo sealed";
  EXPECT_EQ(clientInfoAsIpnd.poll(), 1) << "ipnd may not";
  EXPECT_EQ(violations.back(), "ipnd wgd.derpClientInfo");

  // wgd.ping is ipnd's only.
  pingAsIpnd.start();
  pingAsMagicsockd.start();
  ASSERT_TRUE(runUntil(
      loop, [&] { return pingAsIpnd.poll() && pingAsMagicsockd.poll() && violations.size() >= 3; }, 10000ms));
  EXPECT_EQ(pingAsIpnd.poll(), 0) << "ipnd may ask wgd for a ping";
  EXPECT_EQ(pingAsMagicsockd.poll(), 1) << "magicsockd may not";
  EXPECT_EQ(violations.back(), "magicsockd wgd.ping");

  // No network sockets, no core dumps. A non-dumpable process's /proc files belong to root, not
  // to its own uid (proc(5)): that is how PR_SET_DUMPABLE=0 shows from outside.
  expectOnlyUnixSockets(pid);
  struct stat procSt {};
  ASSERT_EQ(stat(("/proc/" + std::to_string(pid) + "/environ").c_str(), &procSt), 0);
  EXPECT_EQ(procSt.st_uid, 0u) << "wgd is still dumpable";
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  std::string line, coreLine;
  while (std::getline(limits, line))
    if (line.rfind("Max core file size", 0) == 0) coreLine = line;
  std::istringstream words(coreLine.substr(std::string("Max core file size").size()));
  std::string soft, hard;
  words >> soft >> hard;
  EXPECT_EQ(soft, "0") << coreLine;
  EXPECT_EQ(hard, "0") << coreLine;

  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(std::filesystem::exists(bus::requestEndpointPath(runtime, "wgd")));
  close(notifyFd);
}

}  // namespace
}  // namespace tnet
