// The process contract of the seccomp allow-lists (issue 7): started by the tailnetd supervisor
// as root, every service runs under its filter (Seccomp: 2 in /proc/<pid>/status, and in the
// health ipnd aggregates), keeps working, and wgd's attempt at socket(AF_INET) (the test probe
// TAILNETD_TEST_FORBIDDEN_SYSCALL=socket-inet) kills it by SIGSYS before it holds a socket; the
// supervisor logs the death and restarts it.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <set>

#include "libs/sandbox/isolation.h"
#include "tests/integration/harness/harness.h"

namespace tnet::harness {
namespace {

const std::vector<std::string> SERVICES = {"wgd", "magicsockd", "netstackd", "controld", "ipnd", "apid"};

#if defined(TNET_SANITIZE) || defined(__SANITIZE_ADDRESS__)
constexpr bool SANITIZER_BUILD = true;
#else
constexpr bool SANITIZER_BUILD = false;
#endif

bool serviceUsersExist() {
  if (getgrnam("tailnetd") == nullptr) return false;
  for (const auto& s : SERVICES) {
    if (getpwnam(("tailnetd-" + s).c_str()) == nullptr) return false;
  }
  return true;
}

// The words of every "service.exit svc=<svc>" line: pid and status.
struct Exit {
  int pid = 0;
  std::string status;
};
std::vector<Exit> exitsOf(const std::string& log, const std::string& svc) {
  std::vector<Exit> out;
  static const std::regex LINE(R"(service\.exit svc=(\w+) pid=(\d+) status="([^"]*)\")");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), LINE); it != std::sregex_iterator(); ++it) {
    if ((*it)[1] == svc) out.push_back({std::stoi((*it)[2]), (*it)[3]});
  }
  return out;
}

class SeccompContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: the suite must drop to the tailnetd-* users";
    std::string missing = missingBinaries({"tailnetd"}) + missingServices();
    if (!missing.empty()) GTEST_SKIP() << missing;
    if (!serviceUsersExist()) {
      GTEST_SKIP() << "tailnetd-* users missing: run systemd-sysusers packaging/sysusers.d/tailnetd.conf";
    }
    tmp_ = std::make_unique<TempDir>("tnet-seccomp", 0755);
  }

  SuiteOptions options(const std::string& name, const std::string& mode) {
    SuiteOptions o;
    o.stateDir = *tmp_ / name;
    o.runtimeDir = *tmp_ / (name + "-run");
    if (!mode.empty()) o.env["TAILNETD_SECCOMP"] = mode;
    return o;
  }

  std::unique_ptr<TempDir> tmp_;
};

TEST_F(SeccompContractTest, EveryServiceRunsUnderItsFilterAndKeepsWorking) {
  // Release builds run the real thing (kill); sanitizer builds their default, log: the filter is
  // installed all the same (Seccomp: 2), but LeakSanitizer's exit-time ptrace must not be fatal.
  Suite suite(options("all", SANITIZER_BUILD ? "" : "kill"));
  ASSERT_TRUE(suite.start());
  auto ready = suite.waitReady();
  ASSERT_TRUE(ready) << ready.error().message << "\n" << suite.stderrText();
  auto services = suite.services();
  ASSERT_EQ(services.size(), SERVICES.size()) << suite.stderrText();
  for (const auto& [name, pid] : services) {
    auto f = sandbox::readIsolationFacts(pid);
    ASSERT_TRUE(f) << name << ": " << f.error().message;
    EXPECT_EQ(f->seccompMode, 2) << name << " (Seccomp: in /proc/" << pid << "/status)";
    EXPECT_TRUE(f->noNewPrivs) << name;
  }
  std::string log = suite.stderrText();
  for (const auto& s : SERVICES) {
    EXPECT_NE(log.find(s + ": service.seccomp mode=" + (SANITIZER_BUILD ? "log" : "kill")), std::string::npos)
        << s << "\n"
        << log;
  }

  // Work through the filters: status, a prefs write (ipnd's state file), the isolation report.
  auto set = suite.request("PATCH", "/localapi/v0/prefs", R"({"Hostname":"filtered","HostnameSet":true})");
  ASSERT_TRUE(set && set->status == 200) << (set ? set->body : set.error().message);
  // Health is republished after the filter goes on: ipnd's aggregate shows mode 2 for every
  // service that reports over the bus. (ipnd's own entry is read from its /proc when its start()
  // runs, before the runtime confines it, so it is checked in /proc above, not here.)
  nlohmann::json iso;
  bool allFiltered = waitUntil(
      [&] {
        auto r = suite.get("/localapi/v0/tailnetd/isolation");
        if (!r || r->status != 200) return false;
        iso = r->json();
        if (!iso.is_array()) return false;
        std::set<std::string> seen;
        for (const auto& s : iso) {
          if (s.value("Service", "") == "ipnd") continue;
          if (s.value("Present", false) && s["Isolation"].is_object() &&
              s["Isolation"].value("SeccompMode", 0) == 2) {
            seen.insert(s.value("Service", ""));
          }
        }
        return seen.size() == SERVICES.size() - 1;
      },
      5s);
  EXPECT_TRUE(allFiltered) << iso.dump(1);
  EXPECT_EQ(suite.get("/localapi/v0/status")->status, 200);

  // Nobody died on the way (a missing system call would show as signal 31 and a new pid).
  log = suite.stderrText();
  EXPECT_EQ(log.find("service.exit"), std::string::npos) << log;
  EXPECT_EQ(suite.services(), services);
  auto stopped = suite.stop();
  ASSERT_TRUE(stopped);
  EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << suite.stderrText();
  log = suite.stderrText();
  EXPECT_EQ(log.find("Bad system call"), std::string::npos) << log;  // shutdown paths too
}

TEST_F(SeccompContractTest, WgdDiesBySigsysOnAnInternetSocketAndIsRestarted) {
  if (SANITIZER_BUILD)
    GTEST_SKIP() << "sanitizer builds run seccomp in log mode (LeakSanitizer needs ptrace)";
  auto o = options("probe", "kill");
  o.env["TAILNETD_TEST_FORBIDDEN_SYSCALL"] = "socket-inet";
  Suite suite(o);
  ASSERT_TRUE(suite.start());
  // Killed, logged, restarted, killed again: twice proves the restart went through.
  ASSERT_TRUE(waitUntil([&] { return exitsOf(suite.stderrText(), "wgd").size() >= 2; }, 10s))
      << suite.stderrText();
  std::string log = suite.stderrText();
  auto exits = exitsOf(log, "wgd");
  for (const auto& e : exits) EXPECT_EQ(e.status, "signal 31 (Bad system call; killed by seccomp)") << log;
  EXPECT_NE(log.find("service.restart svc=wgd"), std::string::npos) << log;
  EXPECT_NE(log.find("wgd: service.seccomp.test-probe probe=socket-inet trying socket(AF_INET)"),
            std::string::npos)
      << log;
  // It never held the socket: the probe reports any fd it gets, and nothing was refused softly.
  EXPECT_EQ(log.find("got a socket"), std::string::npos) << log;
  EXPECT_EQ(log.find("service.seccomp.test-probe refused"), std::string::npos) << log;
  // Only wgd has the probe (the manifest passes the variable to wgd alone): nobody else started
  // yet, since the suite waits for wgd's READY.
  for (const auto& s : SERVICES) {
    if (s != "wgd") {
      EXPECT_TRUE(exitsOf(log, s).empty()) << s;
    }
  }

  // The kernel's audit record names the call when the kernel log is readable: socket (41 on
  // x86_64) from that pid, killed (code 0x80000000 = SECCOMP_RET_KILL_PROCESS).
  auto dmesg = runProcess({"dmesg"});
  if (dmesg.exitCode == 0 && dmesg.out.find("type=1326") != std::string::npos) {
    std::regex rec("type=1326 .*pid=" + std::to_string(exits[0].pid) +
                   " comm=\"wgd\".* syscall=(\\d+) .*code=(0x[0-9a-f]+)");
    std::smatch m;
    if (std::regex_search(dmesg.out, m, rec)) {
#if defined(__x86_64__)
      EXPECT_EQ(m[1].str(), "41");
#endif
      EXPECT_EQ(m[2].str(), "0x80000000");
    } else {
      std::printf("(no audit record for wgd pid %d in dmesg: rate-limited or rotated)\n", exits[0].pid);
    }
  }
}

TEST_F(SeccompContractTest, ABadModeStopsTheServiceWithAClearError) {
  Suite suite(options("bad", "strict"));
  ASSERT_TRUE(suite.start());
  ASSERT_TRUE(waitUntil([&] { return !exitsOf(suite.stderrText(), "wgd").empty(); }, 10s))
      << suite.stderrText();
  std::string log = suite.stderrText();
  EXPECT_NE(log.find("TAILNETD_SECCOMP=\\\"strict\\\": want kill, log or off"), std::string::npos) << log;
  EXPECT_EQ(exitsOf(log, "wgd")[0].status, "exit 1") << log;
}

}  // namespace
}  // namespace tnet::harness
