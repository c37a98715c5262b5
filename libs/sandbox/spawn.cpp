#include "libs/sandbox/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace tnet::sandbox {
namespace {

// What the child reports through the error pipe when a step fails before exec.
struct ChildFailure {
  int err = 0;
  char step[64] = {};
};

[[noreturn]] void childFail(int errFd, const char* step) {
  ChildFailure f;
  f.err = errno;
  std::strncpy(f.step, step, sizeof(f.step) - 1);
  ssize_t ignored = write(errFd, &f, sizeof(f));
  (void)ignored;
  _exit(127);
}

bool writeFile(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t len = std::strlen(text);
  bool ok = write(fd, text, len) == static_cast<ssize_t>(len);
  close(fd);
  return ok;
}

// Closes every descriptor >= from. close_range exists since Linux 5.9; older kernels get a loop.
void closeFrom(int from) {
  if (syscall(SYS_close_range, static_cast<unsigned>(from), ~0U, 0) == 0) return;
  for (int fd = from; fd < 65536; ++fd) close(fd);
}

// Runs in the forked child: everything here either succeeds or ends in childFail.
[[noreturn]] void childMain(const SpawnSpec& spec, char* const* argv, char** envp, char* listenPidSlot,
                            int errFd) {
  // The parent blocks signals it reads through a signalfd; the mask survives exec, so reset it,
  // and put back the default action for any signal the parent ignores (SIGPIPE).
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);

  if (spec.network == NetworkIsolation::PRIVATE) {
    if (unshare(CLONE_NEWNET) != 0) childFail(errFd, "unshare(CLONE_NEWNET)");
  } else if (spec.network == NetworkIsolation::PRIVATE_USER) {
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) childFail(errFd, "unshare(CLONE_NEWUSER|CLONE_NEWNET)");
    // A process that changed uid earlier is not dumpable, which makes its /proc/self files
    // root-owned and the id maps unwritable. exec resets this flag anyway.
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) childFail(errFd, "prctl(PR_SET_DUMPABLE)");
    // Map only our own ids, so the process keeps its identity and gains nothing outside.
    char map[64];
    std::snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
    if (!writeFile("/proc/self/uid_map", map)) childFail(errFd, "write uid_map");
    if (!writeFile("/proc/self/setgroups", "deny")) childFail(errFd, "write setgroups");
    std::snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
    if (!writeFile("/proc/self/gid_map", map)) childFail(errFd, "write gid_map");
  }

  if (spec.identity) {
    // Empty the bounding set while we still hold CAP_SETPCAP: nothing exec'd later (even a
    // set-uid binary) can regain a capability. Numbers past the kernel's last cap fail: stop.
    for (int cap = 0; cap <= 63; ++cap) {
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        if (errno == EINVAL) break;
        childFail(errFd, "prctl(PR_CAPBSET_DROP)");
      }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
      childFail(errFd, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    if (setgroups(0, nullptr) != 0) childFail(errFd, "setgroups");
    gid_t g = spec.identity->gid;
    uid_t u = spec.identity->uid;
    if (setresgid(g, g, g) != 0) childFail(errFd, "setresgid");
    // Without PR_SET_KEEPCAPS, leaving uid 0 clears the permitted and effective sets.
    if (setresuid(u, u, u) != 0) childFail(errFd, "setresuid");
    uid_t r = 0, e = 0, s = 0;
    if (getresuid(&r, &e, &s) != 0 || r != u || e != u || s != u) {
      errno = EPERM;
      childFail(errFd, "verify uid");
    }
    // Going back to root must be impossible now.
    if (u != 0 && setuid(0) == 0) {
      errno = EPERM;
      childFail(errFd, "uid 0 still reachable");
    }
  }

  // No exec'd program may gain privileges (set-uid bits, file capabilities).
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) childFail(errFd, "prctl(PR_SET_NO_NEW_PRIVS)");

  if (spec.dieWithParent) {
    pid_t parent = getppid();
    // Set after the identity change: changing credentials clears the parent-death signal.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) childFail(errFd, "prctl(PR_SET_PDEATHSIG)");
    if (getppid() != parent) _exit(127);  // the parent died before the signal was armed
  }

  // Descriptors: passFds to 3.., the binary and the error pipe right after them (close-on-exec),
  // everything else closed. First move every source above the target range so no dup2 clobbers
  // a source still to be moved.
  int n = static_cast<int>(spec.passFds.size());
  int execPos = 3 + n;
  int errPos = execPos + 1;
  int scratch = errPos + 1;
  int tmpExec = fcntl(spec.executableFd, F_DUPFD_CLOEXEC, scratch);
  int tmpErr = fcntl(errFd, F_DUPFD_CLOEXEC, scratch);
  if (tmpExec < 0 || tmpErr < 0) childFail(errFd, "fcntl(F_DUPFD_CLOEXEC)");
  errFd = tmpErr;
  int tmpPass[64];
  if (n > 64) {
    errno = EMFILE;
    childFail(errFd, "too many descriptors");
  }
  for (int i = 0; i < n; ++i) {
    tmpPass[i] = fcntl(spec.passFds[i], F_DUPFD_CLOEXEC, scratch);
    if (tmpPass[i] < 0) childFail(errFd, "fcntl(F_DUPFD_CLOEXEC)");
  }
  for (int i = 0; i < n; ++i) {
    if (dup2(tmpPass[i], 3 + i) < 0) childFail(errFd, "dup2");  // dup2 clears close-on-exec
  }
  if (dup3(tmpExec, execPos, O_CLOEXEC) < 0) childFail(errFd, "dup3");
  if (dup3(tmpErr, errPos, O_CLOEXEC) < 0) childFail(errFd, "dup3");
  errFd = errPos;
  closeFrom(scratch);

  // stdin from /dev/null: a service never reads the terminal the supervisor was started from.
  int devNull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devNull < 0 || dup2(devNull, 0) < 0) childFail(errFd, "open /dev/null");
  if (devNull != 0) close(devNull);

  if (listenPidSlot != nullptr) std::snprintf(listenPidSlot, 32, "LISTEN_PID=%d", getpid());

  syscall(SYS_execveat, execPos, "", argv, envp, AT_EMPTY_PATH);
  childFail(errFd, "execveat");
}

}  // namespace

Result<int> openExecutable(const std::string& path) {
  int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) return Error::failed("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
    close(fd);
    return Error::invalid(path + " is not an executable file");
  }
  return fd;
}

Result<pid_t> spawnSandboxed(const SpawnSpec& spec) {
  if (spec.executableFd < 0 || spec.argv.empty()) return Error::invalid("spawn: no executable or argv");

  // Everything the child needs is allocated here, before fork.
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  char listenPid[32] = "LISTEN_PID=0";
  if (spec.setListenPid) envp.push_back(listenPid);
  envp.push_back(nullptr);

  int errPipe[2];
  if (pipe2(errPipe, O_CLOEXEC) != 0) return Error::failed(std::string("pipe2: ") + std::strerror(errno));

  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(errPipe[0]);
    close(errPipe[1]);
    return Error::failed(std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    close(errPipe[0]);
    childMain(spec, argv.data(), envp.data(), spec.setListenPid ? listenPid : nullptr, errPipe[1]);
  }
  close(errPipe[1]);

  // EOF means exec succeeded (the pipe was close-on-exec); a record means a step failed.
  ChildFailure f;
  ssize_t got;
  do {
    got = read(errPipe[0], &f, sizeof(f));
  } while (got < 0 && errno == EINTR);
  close(errPipe[0]);
  if (got == 0) return pid;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got != static_cast<ssize_t>(sizeof(f))) return Error::failed("spawn: child failed before exec");
  f.step[sizeof(f.step) - 1] = 0;
  return Error::failed(std::string(f.step) + ": " + std::strerror(f.err));
}

bool userNetworkNamespacesAvailable() {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) _exit(unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : 1);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace tnet::sandbox
