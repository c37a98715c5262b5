#include "supervisor/suite.h"

#include <signal.h>
#include <sodium.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "libs/log/log.h"
#include "libs/sandbox/spawn.h"
#include "supervisor/config_handoff.h"
#include "supervisor/filesystem.h"
#include "supervisor/service_table.h"
#include "supervisor/supervisor.h"
#include "supervisor/users.h"

extern char** environ;

namespace tnet::supervisor {
namespace {

int fail(const std::string& line) {
  std::fprintf(stderr, "tailnetd: %s\n", line.c_str());
  return 1;
}

std::string libexecDir() {
  if (const char* d = std::getenv("TAILNETD_LIBEXEC_DIR"); d != nullptr && *d != 0) return d;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return self.parent_path().string();
}

std::vector<std::string> processEnvironmentList() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) out.emplace_back(*e);
  return out;
}

// Removes the LocalAPI socket on exit if it is still the one we bound.
struct SocketFileGuard {
  SocketFileGuard() = default;
  SocketFileGuard(const SocketFileGuard&) = delete;
  SocketFileGuard& operator=(const SocketFileGuard&) = delete;
  std::string path;
  ino_t inode = 0;
  ~SocketFileGuard() {
    struct stat st {};
    if (!path.empty() && lstat(path.c_str(), &st) == 0 && st.st_ino == inode) unlink(path.c_str());
  }
};

struct FdGuard {
  std::vector<int> fds;
  ~FdGuard() {
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  }
};

}  // namespace

int runSuite(const Options& opts) {
  uid_t uid = getuid();
  bool root = geteuid() == 0;
  auto env = processEnvironment();

  // 1. Everything that only reads: paths, config, users, binaries.
  auto state = resolveStateDir(opts, uid, env);
  if (!state) return fail(state.error().message);

  std::string configDocument;
  if (!opts.configFile.empty()) {
    auto cfg = loadConfigForIpnd(opts.configFile);
    if (!cfg) return fail(cfg.error().message);
    configDocument = std::move(*cfg);
  }

  ServiceUsers users;
  if (root) {
    auto u = lookupServiceUsers(serviceTable(), serviceGroup());
    if (!u) return fail(u.error().message);
    users = std::move(*u);
  }

  FdGuard fds;
  std::string dir = libexecDir();
  std::map<std::string, int> exeFds;
  for (const auto& s : serviceTable()) {
    bool external = std::find(opts.external.begin(), opts.external.end(), s.name) != opts.external.end();
    if (external) continue;
    auto fd = sandbox::openExecutable(dir + "/" + s.name);
    if (!fd)
      return fail(fd.error().message +
                  " (service binaries are found beside tailnetd or in TAILNETD_LIBEXEC_DIR)");
    exeFds[s.name] = *fd;
    fds.fds.push_back(*fd);
  }

  // 2. The state dir (0755; per-service 0700 owned by the service).
  if (auto r = ensureDirectory(state->stateDir, 0755, std::nullopt); !r) {
    return fail("state dir " + state->stateDir + ": " + r.error().message);
  }
  if (auto r = checkWritable(state->stateDir); !r) return fail(r.error().message);
  auto realState = realPath(state->stateDir);
  if (!realState) return fail(realState.error().message);
  for (const auto& s : serviceTable()) {
    std::optional<Owner> owner;
    if (root) owner = Owner{users.uids[s.name], users.group};
    if (auto r = ensureDirectory(*realState + "/" + s.name, 0700, owner); !r) return fail(r.error().message);
  }

  // 3. The runtime dir, locked for the life of the suite.
  auto paths = resolveRuntimePaths(opts, *state, *realState, uid, env);
  if (auto r = checkRuntimeDirLength(paths.runtimeDir); !r) return fail(r.error().message);
  if (auto r = ensureDirectory(paths.runtimeDir, root ? 0755 : 0700, std::nullopt); !r) {
    return fail("runtime dir " + paths.runtimeDir + ": " + r.error().message);
  }
  auto lock = RuntimeLock::acquire(paths.runtimeDir);
  if (!lock) return fail(lock.error().message);
  for (const auto& s : serviceTable()) {
    std::string d = paths.runtimeDir + "/" + s.name;
    std::optional<Owner> owner;
    if (root) owner = Owner{users.uids[s.name], users.group};
    if (auto r = ensureDirectory(d, root ? 0750 : 0700, owner); !r) return fail(r.error().message);
    removeStaleSockets(d);
  }

  // 4. Logging from here on: setup errors above were single lines on stderr.
  log::init("tailnetd", opts.verbose);
  auto& logger = log::logger();

  // Signals are read from a signalfd; blocked before any child exists. Children reset the mask.
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, sig);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int sigFd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigFd < 0) return fail(std::string("signalfd: ") + std::strerror(errno));
  fds.fds.push_back(sigFd);

  // 5. Sockets: the LocalAPI socket (for apid) and the readiness socket.
  bool apidExternal = std::find(opts.external.begin(), opts.external.end(), "apid") != opts.external.end();
  SocketFileGuard socketGuard;
  int listenFd = -1;
  if (!apidExternal) {
    auto lfd = bindLocalApiSocket(paths.socket);
    if (!lfd) return fail(lfd.error().message);
    listenFd = *lfd;
    fds.fds.push_back(listenFd);
    struct stat st {};
    if (lstat(paths.socket.c_str(), &st) == 0) {
      // Fields, not a temporary guard: its destructor would remove the socket right away.
      socketGuard.path = paths.socket;
      socketGuard.inode = st.st_ino;
    }
  }
  std::string notifyPath = paths.runtimeDir + "/notify";
  auto nfd = bindNotifySocket(notifyPath);
  if (!nfd) return fail(nfd.error().message);
  fds.fds.push_back(*nfd);

  logger.info("suite.start version={} state_dir={} runtime_dir={} socket={} uid={}", TNET_VERSION,
              log::quote(*realState), log::quote(paths.runtimeDir), log::quote(paths.socket), uid);
  bool userNetns = !root && sandbox::userNetworkNamespacesAvailable();
  if (!root) {
    logger.warn("suite.unprivileged uid={}: every service runs as this uid; no privilege separation", uid);
    if (!userNetns)
      logger.warn(
          "suite.no-userns: the kernel refuses user namespaces; wgd shares the host network namespace");
  }
  bool ipndExternal = std::find(opts.external.begin(), opts.external.end(), "ipnd") != opts.external.end();
  if (ipndExternal && !configDocument.empty()) {
    logger.warn("service.external svc=ipnd: --config is not handed to an ipnd started by hand");
  }
  if (apidExternal) {
    logger.warn(
        "service.external svc=apid: tailnetd does not bind {}; start apid with the socket on fd 3 "
        "(e.g. systemd-socket-activate -l {})",
        log::quote(paths.socket), log::quote(paths.socket));
  }

  // 6. How each service is started.
  std::vector<std::string> environ = processEnvironmentList();
  std::vector<ServiceLaunch> launches;
  for (const auto& s : serviceTable()) {
    ServiceLaunch l;
    l.info = &s;
    l.external = exeFds.count(s.name) == 0;
    l.executableFd = l.external ? -1 : exeFds[s.name];
    l.argv = {s.name,
              "--runtime-dir",
              paths.runtimeDir,
              "--state-dir",
              *realState + "/" + s.name,
              "--log-level",
              std::to_string(opts.verbose)};
    l.env = filterEnvironment(environ, s.environment);
    l.env.push_back("NOTIFY_SOCKET=" + notifyPath);
    if (s.name == "apid") {
      l.argv.insert(l.argv.end(), {"--owner-uid", std::to_string(uid)});
      if (listenFd >= 0) {
        l.passFds.push_back(listenFd);
        l.env.push_back("LISTEN_FDS=1");
        l.env.push_back("LISTEN_FDNAMES=localapi");
        l.setListenPid = true;
      }
    } else if (s.name == "ipnd" && !configDocument.empty()) {
      l.argv.insert(l.argv.end(), {"--config-fd", "3"});
      l.configDocument = &configDocument;
    } else if (s.name == "magicsockd" && opts.port) {
      l.argv.insert(l.argv.end(), {"--port", std::to_string(*opts.port)});
    } else if (s.name == "netstackd") {
      if (!opts.socks5Server.empty()) l.argv.insert(l.argv.end(), {"--socks5-server", opts.socks5Server});
      if (!opts.httpProxyListen.empty()) {
        l.argv.insert(l.argv.end(), {"--outbound-http-proxy-listen", opts.httpProxyListen});
      }
    }
    if (root) {
      l.identity = sandbox::Identity{users.uids[s.name], users.group};
      if (s.privateNetwork) l.network = sandbox::NetworkIsolation::PRIVATE;
    } else if (s.privateNetworkUnprivileged && userNetns) {
      l.network = sandbox::NetworkIsolation::PRIVATE_USER;
    }
    launches.push_back(std::move(l));
  }

  Supervisor supervisor(std::move(launches), sigFd, *nfd, RestartPolicy{});
  int code = supervisor.run();
  unlink(notifyPath.c_str());
  if (!configDocument.empty()) sodium_memzero(configDocument.data(), configDocument.size());
  logger.info("suite.stopped code={}", code);
  return code;
}

}  // namespace tnet::supervisor
