// The allow-lists hold in a real process: each case forks a child (before any thread exists in
// it), installs a service's filter there and tries calls, reporting through a pipe what it got.
#include "libs/sandbox/seccomp.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "libs/sandbox/isolation.h"

namespace tnet::sandbox {
namespace {

struct ChildResult {
  int status = 0;
  std::string said;  // what the child wrote before it ended
};

// Runs `body` in a forked child with a pipe fd to write progress markers to; the child ends
// with _exit (no atexit handlers, no LeakSanitizer pass under a filter).
ChildResult inChild(const std::function<int(int out)>& body) {
  int p[2];
  EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    _exit(body(p[1]));
  }
  close(p[1]);
  ChildResult r;
  char buf[256];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) r.said.append(buf, static_cast<size_t>(n));
  close(p[0]);
  EXPECT_EQ(waitpid(pid, &r.status, 0), pid);
  return r;
}

void say(int out, const std::string& text) {
  std::string line = text + "\n";
  ssize_t n = write(out, line.data(), line.size());
  (void)n;
}

bool killedBySigsys(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

SeccompPolicy policy(const std::string& svc) {
  auto p = seccompPolicyFor(svc);
  EXPECT_TRUE(p) << svc;
  return p ? *p : SeccompPolicy{};
}

// socket(family, SOCK_DGRAM) → "<tag> fd" or "<tag> errno=N".
void trySocket(int out, const std::string& tag, int family) {
  int fd = socket(family, (family == AF_NETLINK ? SOCK_RAW : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    close(fd);
    say(out, tag + " fd");
  } else {
    say(out, tag + " errno=" + std::to_string(errno));
  }
}

TEST(SeccompMode, ParsesTheThreeModesAndRejectsTheRest) {
  EXPECT_EQ(*parseSeccompMode("kill"), SeccompMode::KILL);
  EXPECT_EQ(*parseSeccompMode("log"), SeccompMode::LOG);
  EXPECT_EQ(*parseSeccompMode("off"), SeccompMode::OFF);
  for (const char* bad : {"", "KILL", "kil", "on", "1"}) {
    auto r = parseSeccompMode(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("want kill, log or off"), std::string::npos);
  }
#if defined(TNET_SANITIZE) || defined(__SANITIZE_ADDRESS__)
  EXPECT_EQ(defaultSeccompMode(), SeccompMode::LOG);
#else
  EXPECT_EQ(defaultSeccompMode(), SeccompMode::KILL);
#endif
}

TEST(SeccompPolicy, EveryServiceHasOneAndUnknownNamesHaveNone) {
  for (const auto& svc : seccompServices()) {
    auto p = seccompPolicyFor(svc);
    ASSERT_TRUE(p) << svc;
    EXPECT_TRUE(std::count(p->socketFamilies.begin(), p->socketFamilies.end(), AF_UNIX)) << svc;
  }
  auto none = seccompPolicyFor("tailnetd");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no seccomp policy"), std::string::npos);
}

TEST(SeccompPolicy, NamesAreRealSyscallsAndDangerousOnesAreAbsent) {
  for (const auto& name : baseSyscalls()) {
    bool known = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name.c_str()) != __NR_SCMP_ERROR ||
                 seccomp_syscall_resolve_name_arch(SCMP_ARCH_AARCH64, name.c_str()) != __NR_SCMP_ERROR;
    EXPECT_TRUE(known) << name << " is not a system call libseccomp knows";
  }
  for (const char* banned : {"execve", "execveat", "fork", "vfork", "ptrace", "mount", "setuid", "setresuid",
                             "unshare", "setns", "bpf", "perf_event_open", "memfd_create", "socket",
                             "socketpair", "process_vm_readv", "kexec_load", "init_module", "chown"}) {
    EXPECT_EQ(std::count(baseSyscalls().begin(), baseSyscalls().end(), banned), 0) << banned;
  }
}

TEST(SeccompPolicy, OnlyTheNetworkedServicesMayOpenInternetSockets) {
  for (const auto& svc : seccompServices()) {
    auto f = policy(svc).socketFamilies;
    bool inet = std::count(f.begin(), f.end(), AF_INET) + std::count(f.begin(), f.end(), AF_INET6) > 0;
    bool netlink = std::count(f.begin(), f.end(), AF_NETLINK) > 0;
    EXPECT_EQ(std::count(f.begin(), f.end(), AF_PACKET), 0) << svc;
    if (svc == "wgd" || svc == "ipnd" || svc == "apid") {
      EXPECT_EQ(f, std::vector<int>{AF_UNIX}) << svc;
    } else {
      EXPECT_TRUE(inet) << svc;
      EXPECT_EQ(netlink, svc == "magicsockd") << svc;
    }
  }
}

TEST(Seccomp, KillModeWgdKeepsUnixSocketsAndDiesOnAnInternetSocket) {
  auto r = inChild([](int out) {
    if (auto ok = installSeccomp(policy("wgd"), SeccompMode::KILL); !ok) {
      say(out, "install failed: " + ok.error().message);
      return 1;
    }
    auto facts = readIsolationFacts();
    say(out, "mode " + std::to_string(facts ? facts->seccompMode : -1));
    trySocket(out, "unix", AF_UNIX);
    int pair[2];
    say(out, socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0 ? "pair ok" : "pair failed");
    trySocket(out, "inet", AF_INET);  // never returns
    return 0;
  });
  EXPECT_TRUE(killedBySigsys(r.status)) << r.status << "\n" << r.said;
  EXPECT_EQ(r.said, "mode 2\nunix fd\npair ok\n");  // and no "inet" line: it never got a socket
}

TEST(Seccomp, KillModeWgdDiesOnEveryNonUnixFamily) {
  for (int family : {AF_INET6, AF_NETLINK, AF_PACKET}) {
    auto r = inChild([family](int out) {
      if (!installSeccomp(policy("wgd"), SeccompMode::KILL)) return 1;
      trySocket(out, "socket", family);
      return 0;
    });
    EXPECT_TRUE(killedBySigsys(r.status)) << "family " << family << ": " << r.said;
    EXPECT_EQ(r.said, "") << family;
  }
}

TEST(Seccomp, KillModeAppliesToThreadsThatAlreadyExist) {
  auto r = inChild([](int out) {
    int go[2];
    if (pipe(go) != 0) return 1;
    std::thread t([&] {
      char c;
      if (read(go[0], &c, 1) != 1) return;
      trySocket(out, "thread inet", AF_INET);
    });
    if (!installSeccomp(policy("ipnd"), SeccompMode::KILL)) return 1;
    say(out, "installed");
    ssize_t n = write(go[1], "x", 1);
    (void)n;
    t.join();
    return 0;
  });
  EXPECT_TRUE(killedBySigsys(r.status)) << r.said;
  EXPECT_EQ(r.said, "installed\n");
}

TEST(Seccomp, NetworkedServicesOpenInternetSocketsButCannotExec) {
  auto r = inChild([](int out) {
    if (!installSeccomp(policy("controld"), SeccompMode::KILL)) return 1;
    trySocket(out, "inet", AF_INET);
    trySocket(out, "inet6", AF_INET6);
    trySocket(out, "netlink", AF_NETLINK);  // refused like RestrictAddressFamilies=, not fatal
    say(out, "exec");
    char* const argv[] = {const_cast<char*>("true"), nullptr};
    execve("/bin/true", argv, argv + 1);
    say(out, "exec returned");
    return 0;
  });
  EXPECT_TRUE(killedBySigsys(r.status)) << r.said;
  std::string want = "inet fd\n";
  EXPECT_EQ(r.said.substr(0, want.size()), want) << r.said;
  EXPECT_NE(r.said.find("netlink errno=" + std::to_string(EAFNOSUPPORT)), std::string::npos) << r.said;
  EXPECT_EQ(r.said.find("exec returned"), std::string::npos) << r.said;
}

TEST(Seccomp, MagicsockdMayOpenNetlink) {
  auto r = inChild([](int out) {
    if (!installSeccomp(policy("magicsockd"), SeccompMode::KILL)) return 1;
    trySocket(out, "netlink", AF_NETLINK);
    trySocket(out, "packet", AF_PACKET);  // never returns
    return 0;
  });
  EXPECT_TRUE(killedBySigsys(r.status)) << r.said;
  EXPECT_EQ(r.said, "netlink fd\n");
}

TEST(Seccomp, LogModeAllowsEverythingButIsInstalled) {
  auto r = inChild([](int out) {
    if (!installSeccomp(policy("wgd"), SeccompMode::LOG)) return 1;
    auto facts = readIsolationFacts();
    say(out, "mode " + std::to_string(facts ? facts->seccompMode : -1));
    trySocket(out, "inet", AF_INET);
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.status;
  EXPECT_EQ(r.said, "mode 2\ninet fd\n");
}

TEST(Seccomp, OffModeInstallsNothing) {
  auto r = inChild([](int out) {
    if (!installSeccomp(policy("wgd"), SeccompMode::OFF)) return 1;
    auto facts = readIsolationFacts();
    say(out, "mode " + std::to_string(facts ? facts->seccompMode : -1));
    return 0;
  });
  EXPECT_EQ(r.said, "mode 0\n");
}

TEST(ConfineService, ReadsTheModeAndRunsTheProbe) {
  auto r = inChild([](int out) {
    setenv("TAILNETD_SECCOMP", "kill", 1);
    setenv("TAILNETD_TEST_FORBIDDEN_SYSCALL", "socket-inet", 1);
    auto c = confineService("wgd");
    if (!c) {
      say(out, c.error().message);
      return 1;
    }
    say(out, std::string(seccompModeName(c->mode)) + (c->syscalls > 100 ? " many" : " few"));
    auto probe = forbiddenSyscallProbe();
    if (!probe || !*probe) return 2;
    int got = runForbiddenSyscallProbe(**probe);
    say(out, "probe returned " + std::to_string(got));
    return 0;
  });
  EXPECT_TRUE(killedBySigsys(r.status)) << r.said;
  EXPECT_EQ(r.said, "kill many\n");
}

TEST(ConfineService, BadValuesAreClearErrors) {
  auto r = inChild([](int out) {
    setenv("TAILNETD_SECCOMP", "strict", 1);
    auto c = confineService("wgd");
    say(out, c ? "installed" : c.error().message);
    setenv("TAILNETD_SECCOMP", "off", 1);
    auto unknown = confineService("nosuchd");
    say(out, unknown ? "installed" : unknown.error().message);
    setenv("TAILNETD_TEST_FORBIDDEN_SYSCALL", "reboot", 1);
    auto probe = forbiddenSyscallProbe();
    say(out, probe ? "probe ok" : probe.error().message);
    return 0;
  });
  EXPECT_EQ(r.said,
            "TAILNETD_SECCOMP=\"strict\": want kill, log or off\n"
            "no seccomp policy for service \"nosuchd\"\n"
            "TAILNETD_TEST_FORBIDDEN_SYSCALL=\"reboot\": the only probe is socket-inet\n");
}

}  // namespace
}  // namespace tnet::sandbox
