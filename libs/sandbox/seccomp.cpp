#include "libs/sandbox/seccomp.h"

#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace tnet::sandbox {

namespace {

constexpr const char* MODE_ENV = "TAILNETD_SECCOMP";
constexpr const char* PROBE_ENV = "TAILNETD_TEST_FORBIDDEN_SYSCALL";
constexpr std::string_view PROBE_SOCKET_INET = "socket-inet";

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

std::string seccompError(const char* what, int rc) {
  return std::string("seccomp: ") + what + ": " + std::strerror(-rc);
}

// socket() and socketpair() with `family` as their first argument get `action`. The argument
// is an int: compare the low 32 bits only (the upper half of the register is not defined).
Result<void> addFamilyRule(scmp_filter_ctx ctx, uint32_t action, int family) {
  for (int nr : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
    int rc = seccomp_rule_add(ctx, action, nr, 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffULL, static_cast<scmp_datum_t>(family)));
    if (rc != 0) return Error::failed(seccompError("rule for socket family", rc));
  }
  return {};
}

}  // namespace

std::string_view seccompModeName(SeccompMode mode) {
  switch (mode) {
    case SeccompMode::KILL:
      return "kill";
    case SeccompMode::LOG:
      return "log";
    case SeccompMode::OFF:
      return "off";
  }
  return "?";
}

Result<SeccompMode> parseSeccompMode(std::string_view text) {
  if (text == "kill") return SeccompMode::KILL;
  if (text == "log") return SeccompMode::LOG;
  if (text == "off") return SeccompMode::OFF;
  return Error::invalid(std::string(MODE_ENV) + "=\"" + std::string(text) + "\": want kill, log or off");
}

SeccompMode defaultSeccompMode() {
#if defined(TNET_SANITIZE) || defined(__SANITIZE_ADDRESS__)
  return SeccompMode::LOG;  // LeakSanitizer's exit-time check uses ptrace
#else
  return SeccompMode::KILL;
#endif
}

Result<SeccompMode> seccompModeFromEnvironment() {
  const char* v = std::getenv(MODE_ENV);
  if (v == nullptr || *v == 0) return defaultSeccompMode();
  return parseSeccompMode(v);
}

Result<void> installSeccomp(const SeccompPolicy& policy, SeccompMode mode) {
  if (mode == SeccompMode::OFF) return {};
  uint32_t deny = mode == SeccompMode::KILL ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_LOG;
  Context ctx(seccomp_init(deny));
  if (!ctx) return Error::failed("seccomp: cannot create a filter context");
  // The services are multi-threaded by now (libzmq's I/O threads): the filter must reach them.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); rc != 0) {
    return Error::failed(seccompError("thread sync", rc));
  }
  for (const auto& name : policy.syscalls) {
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture (e.g. "open" on arm64)
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 0); rc != 0) {
      return Error::failed(seccompError(("allow " + name).c_str(), rc));
    }
  }
  for (int family : policy.socketFamilies) {
    if (auto r = addFamilyRule(ctx.get(), SCMP_ACT_ALLOW, family); !r) return r;
  }
  if (mode == SeccompMode::KILL) {
    for (int family : policy.refusedSocketFamilies) {
      if (auto r = addFamilyRule(ctx.get(), SCMP_ACT_ERRNO(EAFNOSUPPORT), family); !r) return r;
    }
  }
  if (int rc = seccomp_load(ctx.get()); rc != 0) return Error::failed(seccompError("load", rc));
  return {};
}

Result<std::optional<std::string>> forbiddenSyscallProbe() {
  const char* v = std::getenv(PROBE_ENV);
  if (v == nullptr || *v == 0) return std::optional<std::string>();
  if (std::string_view(v) != PROBE_SOCKET_INET) {
    return Error::invalid(std::string(PROBE_ENV) + "=\"" + v + "\": the only probe is socket-inet");
  }
  return std::optional<std::string>(v);
}

int runForbiddenSyscallProbe(std::string_view probe) {
  if (probe != PROBE_SOCKET_INET) return -EINVAL;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  close(fd);
  return fd;
}

Result<Confinement> confineService(std::string_view service) {
  auto mode = seccompModeFromEnvironment();
  if (!mode) return mode.error();
  auto policy = seccompPolicyFor(service);
  if (!policy) return policy.error();
  if (auto r = installSeccomp(*policy, *mode); !r) return r.error();
  Confinement c;
  c.mode = *mode;
  if (*mode != SeccompMode::OFF) {
    for (const auto& name : policy->syscalls)
      c.syscalls += seccomp_syscall_resolve_name(name.c_str()) != __NR_SCMP_ERROR;
  }
  return c;
}

}  // namespace tnet::sandbox
