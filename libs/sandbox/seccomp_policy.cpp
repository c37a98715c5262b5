#include "libs/sandbox/seccomp_policy.h"

#include <sys/socket.h>

namespace tnet::sandbox {

// Measured with `strace -f -c` on every service through the suite and data-path tests, then
// widened for glibc variants (newfstatat/statx/fstat, clone/clone3, epoll_wait/epoll_pwait,
// open/openat) so a libc upgrade does not kill a service. Absent on purpose: execve/execveat,
// fork/vfork, ptrace, mount/umount, setuid/setgid and friends, chroot/pivot_root, unshare/setns,
// bpf, perf_event_open, keyctl, kexec, init_module, reboot, swapon, io_uring_*, userfaultfd,
// process_vm_*, personality, memfd_create, mknod, chown.
const std::vector<std::string>& baseSyscalls() {
  // Grouped by purpose, several names a line.
  // clang-format off
  static const std::vector<std::string> LIST = {
      // memory: malloc, sodium_malloc guard pages (mprotect, mlock, madvise DONTDUMP)
      "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "mlock2", "munlock", "msync",
      "mincore", "membarrier",
      // threads and synchronisation (libzmq I/O threads, std::thread, Asio)
      "clone", "clone3", "futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address",
      "rseq", "gettid", "getpid", "getppid", "tgkill", "tkill", "exit", "exit_group", "sched_yield",
      "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam", "sched_getscheduler",
      "sched_setscheduler", "sched_get_priority_max",
      "sched_get_priority_min", "getcpu", "restart_syscall",
      // time
      "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
      "timerfd_create", "timerfd_settime", "timerfd_gettime", "timer_create", "timer_settime",
      "timer_gettime", "timer_delete", "getitimer", "setitimer", "alarm",
      // signals (signalfd for SIGTERM, abort's raise)
      "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigpending", "sigaltstack",
      "signalfd", "signalfd4",
      // descriptors and files (state files, /proc/self, the runtime dir)
      "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
      "open", "openat", "close", "close_range", "lseek", "fstat", "stat", "lstat", "newfstatat", "statx",
      "fstatfs", "statfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64",
      "getcwd", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2", "ioctl", "mkdir", "mkdirat", "unlink",
      "unlinkat", "rename", "renameat", "renameat2", "fsync", "fdatasync", "ftruncate", "fallocate",
      "fadvise64", "chmod", "fchmod", "fchmodat", "umask", "flock", "utimensat", "sendfile",
      "copy_file_range", "getrandom",
      // readiness of descriptors (Asio, libzmq)
      "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll",
      "ppoll", "select", "pselect6", "eventfd", "eventfd2",
      // sockets; socket() and socketpair() are filtered by family per service
      "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "setsockopt",
      "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
      // identity and limits (read-only, plus lowering RLIMIT_CORE and PR_SET_DUMPABLE)
      "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "getpgrp",
      "getpgid", "getsid", "capget", "prctl", "arch_prctl", "uname", "sysinfo", "getrlimit", "setrlimit",
      "prlimit64", "getrusage", "times",
  };
  // clang-format on
  return LIST;
}

const std::vector<std::string>& seccompServices() {
  static const std::vector<std::string> LIST = {"wgd", "magicsockd", "netstackd", "controld", "ipnd", "apid"};
  return LIST;
}

Result<SeccompPolicy> seccompPolicyFor(std::string_view service) {
  SeccompPolicy p;
  p.service = std::string(service);
  p.syscalls = baseSyscalls();
  if (service == "wgd" || service == "ipnd" || service == "apid") {
    // No network: the bus's Unix sockets only. socket(AF_INET/AF_INET6/AF_NETLINK/AF_PACKET)
    // kills the process (the units' RestrictAddressFamilies=AF_UNIX, made fatal).
    p.socketFamilies = {AF_UNIX};
  } else if (service == "controld" || service == "netstackd") {
    // controld: the control server (TCP) and DNS. netstackd: loopback listeners and forwarding
    // to 127.0.0.1. Netlink is not theirs: glibc's getaddrinfo(AI_ADDRCONFIG) probe gets
    // EAFNOSUPPORT, as under RestrictAddressFamilies=, and falls back.
    p.socketFamilies = {AF_UNIX, AF_INET, AF_INET6};
    p.refusedSocketFamilies = {AF_NETLINK};
  } else if (service == "magicsockd") {
    // UDP to peers and STUN, TCP/TLS to DERP, netlink for the interface addresses.
    p.socketFamilies = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
  } else {
    return Error::invalid("no seccomp policy for service \"" + std::string(service) + "\"");
  }
  return p;
}

}  // namespace tnet::sandbox
