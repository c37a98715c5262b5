// Installing a service's seccomp allow-list (libseccomp). Each service narrows itself once it
// has opened what it needs (libs/service calls confineService after the service's start()
// returned), so the filter is the same under the tailnetd supervisor and under systemd.
//
// TAILNETD_SECCOMP selects what a call outside the list does:
//   kill  the whole process dies by SIGSYS (SCMP_ACT_KILL_PROCESS); the default in release builds
//   log   the call is allowed and the kernel logs it (audit type 1326); the default in sanitizer
//         builds, since LeakSanitizer needs ptrace at exit
//   off   no filter
// TAILNETD_TEST_FORBIDDEN_SYSCALL=socket-inet (a test knob the bus manifest passes to wgd only)
// makes the service try socket(AF_INET) right after confining itself, so a test can prove the
// filter holds. docs/hardening.md describes both.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "libs/base/result.h"
#include "libs/sandbox/seccomp_policy.h"

namespace tnet::sandbox {

enum class SeccompMode { KILL, LOG, OFF };

std::string_view seccompModeName(SeccompMode mode);
// "kill" | "log" | "off"; anything else is an error naming the accepted values.
Result<SeccompMode> parseSeccompMode(std::string_view text);
// kill in release builds, log in sanitizer builds.
SeccompMode defaultSeccompMode();
// TAILNETD_SECCOMP, or the default when unset or empty.
Result<SeccompMode> seccompModeFromEnvironment();

// Installs `policy` for every thread of this process (TSYNC: libzmq's threads already exist).
// Sets no_new_privs if it is not set yet. OFF installs nothing.
Result<void> installSeccomp(const SeccompPolicy& policy, SeccompMode mode);

struct Confinement {
  SeccompMode mode = SeccompMode::OFF;
  size_t syscalls = 0;  // rules installed (names this architecture knows)
};

// What a service calls: the mode from the environment, the service's policy, installed; then the
// test probe if TAILNETD_TEST_FORBIDDEN_SYSCALL asks for it. A bad mode value or an unknown
// service is an error (the service must not start unconfined by accident).
Result<Confinement> confineService(std::string_view service);

// The probe: returns the value of TAILNETD_TEST_FORBIDDEN_SYSCALL if it names a known probe
// ("socket-inet"), nullopt when unset; an unknown value is an error.
Result<std::optional<std::string>> forbiddenSyscallProbe();
// Runs the probe: socket(AF_INET, SOCK_DGRAM). Under a kill-mode filter this never returns.
// Returns the fd it got (closed already) or -errno, for the caller to log.
int runForbiddenSyscallProbe(std::string_view probe);

}  // namespace tnet::sandbox
