#include "tests/integration/harness/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace tnet::harness {
namespace {

std::string readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> mergedEnvironment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string s(*e);
    auto eq = s.find('=');
    if (eq != std::string::npos) all[s.substr(0, eq)] = s.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) all[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : all) out.push_back(k + "=" + v);
  return out;
}

struct CStrings {
  std::vector<std::string> owned;
  std::vector<char*> ptrs;
  explicit CStrings(std::vector<std::string> v) : owned(std::move(v)) {
    for (auto& s : owned) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
};

// Starts argv (PATH searched) as the leader of its own process group, so that killing the group
// kills everything it starts; stdout and stderr go to logPath (truncated, or appended to across
// restarts), stdin is /dev/null. Suite and Fixture both start their child this way.
Result<pid_t> spawnInOwnGroup(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                              const std::string& logPath, bool appendLog) {
  CStrings args(argv);
  CStrings envp(mergedEnvironment(env));
  int logFd = open(logPath.c_str(), O_WRONLY | O_CREAT | (appendLog ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0644);
  if (logFd < 0) return Error::failed("cannot create " + logPath);
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(logFd, 1);
    dup2(logFd, 2);
    int devNull = open("/dev/null", O_RDONLY);
    dup2(devNull, 0);
    execvpe(args.ptrs[0], args.ptrs.data(), envp.ptrs.data());
    _exit(127);
  }
  close(logFd);
  if (pid < 0) return Error::failed("fork failed");
  setpgid(pid, pid);  // also from here, so the group exists before we might kill it
  return pid;
}

// Processes of process group pgid that are not zombies.
int liveProcessesInGroup(pid_t pgid) {
  int n = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::string stat = readWholeFile("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0, group = 0;
    rest >> state >> ppid >> group;
    if (group == pgid && state != 'Z') ++n;
  }
  closedir(d);
  return n;
}

}  // namespace

double timeScale() {
  const char* s = std::getenv("TAILNETD_TEST_TIME_SCALE");
  double v = s ? std::atof(s) : 0;
  if (v <= 0) {
#ifdef TNET_SANITIZE
    v = 3;
#else
    v = 1;
#endif
  }
  return v;
}

std::chrono::milliseconds scaled(std::chrono::milliseconds d) {
  return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(d.count()) * timeScale()));
}

std::string binDir() {
  if (const char* b = std::getenv("TNET_BINARY_DIR"); b != nullptr && *b != 0) return std::string(b) + "/bin";
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
}

std::optional<std::string> findBinary(const std::string& name) {
  std::string p = binDir() + "/" + name;
  if (access(p.c_str(), X_OK) == 0) return p;
  return std::nullopt;
}

std::string missingBinaries(const std::vector<std::string>& names) {
  std::string missing;
  for (const auto& n : names) {
    if (!findBinary(n)) missing += (missing.empty() ? "" : ", ") + n;
  }
  if (missing.empty()) return "";
  return "missing binaries in " + binDir() + ": " + missing + " (not built yet)";
}

std::string serviceDir() {
  if (const char* d = std::getenv("TNET_SUITE_LIBEXEC_DIR"); d != nullptr && *d != 0) return d;
  return binDir();
}

std::string missingServices() {
  std::string missing;
  for (const char* n : {"ipnd", "apid", "controld", "wgd", "magicsockd", "netstackd"}) {
    if (access((serviceDir() + "/" + n).c_str(), X_OK) != 0)
      missing += (missing.empty() ? "" : ", ") + std::string(n);
  }
  if (missing.empty()) return "";
  return "missing service binaries in " + serviceDir() + ": " + missing + " (not built yet)";
}

std::vector<std::string> suiteBinaries(bool withCli) {
  std::vector<std::string> v = {"tailnetd", "ipnd", "apid", "controld", "wgd", "magicsockd", "netstackd"};
  if (withCli) v.push_back("tnet");
  return v;
}

TempDir::TempDir(const std::string& prefix, mode_t mode) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  chmod(path_.c_str(), mode);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

ProcessResult runProcess(const std::vector<std::string>& argv, const RunOptions& opts) {
  ProcessResult r;
  int outPipe[2], errPipe[2];
  if (pipe2(outPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0) return r;
  CStrings args(argv);
  CStrings env(mergedEnvironment(opts.env));
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(outPipe[1], 1);
    dup2(errPipe[1], 2);
    int devNull = open("/dev/null", O_RDONLY);
    dup2(devNull, 0);
    if (opts.gid) {
      if (setgroups(0, nullptr) != 0 || setresgid(*opts.gid, *opts.gid, *opts.gid) != 0) _exit(126);
    }
    if (opts.uid && setresuid(*opts.uid, *opts.uid, *opts.uid) != 0) _exit(126);
    execvpe(args.ptrs[0], args.ptrs.data(), env.ptrs.data());
    _exit(127);
  }
  close(outPipe[1]);
  close(errPipe[1]);
  auto deadline = std::chrono::steady_clock::now() + scaled(opts.timeout);
  pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
  int open = 2;
  while (open > 0) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timedOut = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!r.timedOut && WIFEXITED(status)) r.exitCode = WEXITSTATUS(status);
  return r;
}

nlohmann::json HttpResponse::json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

namespace {

Result<int> connectUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return Error::invalid("socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::failed("socket failed");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    close(fd);
    return Error::disconnected("connect " + path + ": " + std::strerror(err));
  }
  return fd;
}

// Sends the request and reads the raw response until the body is complete (Content-Length or
// chunked end) or the peer closes.
Result<std::string> exchange(int fd, const std::string& request, std::chrono::milliseconds timeout) {
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return Error::disconnected(std::string("send: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  std::string raw;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto headerEnd = raw.find("\r\n\r\n");
    if (headerEnd != std::string::npos) {
      std::string head = raw.substr(0, headerEnd);
      std::string lower = head;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto cl = lower.find("\r\ncontent-length:");
      if (cl != std::string::npos) {
        size_t len = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
        if (raw.size() >= headerEnd + 4 + len) return raw;
      } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
        if (raw.size() >= 5 && raw.compare(raw.size() - 5, 5, "0\r\n\r\n") == 0) return raw;
      }
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Error::failed("timed out waiting for the response");
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[8192];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return raw;  // closed: whatever we have
    raw.append(buf, static_cast<size_t>(n));
  }
}

Result<HttpResponse> parseResponse(const std::string& raw) {
  HttpResponse r;
  auto headerEnd = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || headerEnd == std::string::npos) {
    return Error::invalid("not an HTTP response: " + raw.substr(0, 80));
  }
  r.status = std::atoi(raw.c_str() + 9);
  std::istringstream head(raw.substr(0, headerEnd));
  std::string line;
  std::getline(head, line);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon);
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(' '));
    r.headers[k] = v;
  }
  std::string body = raw.substr(headerEnd + 4);
  if (r.headers["transfer-encoding"] == "chunked") {
    std::string out;
    size_t pos = 0;
    while (pos < body.size()) {
      size_t eol = body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      size_t len = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (len == 0) break;
      out += body.substr(eol + 2, len);
      pos = eol + 2 + len + 2;
    }
    body = out;
  }
  r.body = body;
  return r;
}

}  // namespace

Result<HttpResponse> localApi(const std::string& socket, const std::string& method, const std::string& path,
                              const std::string& body, std::optional<uid_t> asUid,
                              std::chrono::milliseconds timeout) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: local-tailscaled.sock\r\n" +
                    "User-Agent: tnet-harness\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  timeout = scaled(timeout);
  if (!asUid) {
    TNET_TRY(int fd, connectUnix(socket));
    auto raw = exchange(fd, req, timeout);
    close(fd);
    if (!raw) return raw.error();
    return parseResponse(*raw);
  }
  // Another uid: a child switches identity, connects and ships the raw response back.
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Error::failed("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    struct passwd* pw = getpwuid(*asUid);
    gid_t gid = pw ? pw->pw_gid : *asUid;
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(*asUid, *asUid, *asUid) != 0) {
      _exit(3);
    }
    auto fd = connectUnix(socket);
    if (!fd) _exit(4);
    auto raw = exchange(*fd, req, timeout);
    if (!raw) _exit(5);
    size_t off = 0;
    while (off < raw->size()) {
      ssize_t n = write(p[1], raw->data() + off, raw->size() - off);
      if (n <= 0) _exit(6);
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(p[1]);
  std::string raw;
  char buf[8192];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) > 0) raw.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Error::failed("request as uid " + std::to_string(*asUid) + " failed (child status " +
                         std::to_string(status) + ")");
  }
  return parseResponse(raw);
}

Result<HttpResponse> httpRequest(const std::string& host, uint16_t port, const std::string& method,
                                 const std::string& path, const std::string& body,
                                 std::chrono::milliseconds timeout) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof(*v4);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof(*v6);
  } else {
    return Error::invalid("not an IP address: " + host);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::failed("socket failed");
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    close(fd);
    return Error::disconnected("connect " + host + ":" + std::to_string(port) + ": " + std::strerror(err));
  }
  std::string hostHeader = ss.ss_family == AF_INET6 ? "[" + host + "]" : host;
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + hostHeader + ":" + std::to_string(port) +
                    "\r\nUser-Agent: tnet-harness\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PATCH" || method == "PUT") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  auto raw = exchange(fd, req, scaled(timeout));
  close(fd);
  if (!raw) return raw.error();
  return parseResponse(*raw);
}

bool socketAccepts(const std::string& path) {
  auto fd = connectUnix(path);
  if (!fd) return false;
  close(*fd);
  return true;
}

Suite::Suite(SuiteOptions opts) : opts_(std::move(opts)) {
  socket_ = opts_.socket.empty() ? opts_.stateDir + "/tailnetd.sock" : opts_.socket;
  logPath_ = opts_.stateDir + ".log";
}

Suite::~Suite() {
  if (pid_ > 0) {
    // The whole process group: tailnetd and every service it started.
    kill(-pid_, SIGKILL);
    if (!exited_) waitpid(pid_, nullptr, 0);
    // Services die with tailnetd (PR_SET_PDEATHSIG) and are reaped by init, maybe slowly:
    // wait until no live (non-zombie) process is left in the group.
    waitUntil([&] { return liveProcessesInGroup(pid_) == 0; }, 5s);
  }
  unlink(logPath_.c_str());
  if (!ownedRuntimeDir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(ownedRuntimeDir_, ec);
  }
}

Result<void> Suite::start() {
  std::string dir = opts_.binDir.empty() ? binDir() : opts_.binDir;
  std::string exe = dir + "/tailnetd";
  if (access(exe.c_str(), X_OK) != 0) return Error::failed("no tailnetd at " + exe);
  std::vector<std::string> argv = opts_.wrapper;
  argv.insert(argv.end(), {exe, "--statedir", opts_.stateDir, "--socket", socket_});
  if (!opts_.tailnetdDefaultRuntimeDir) {
    // Next to the state dir, so a test leaves nothing in /tmp or /run.
    std::string rt = opts_.runtimeDir;
    if (rt.empty()) rt = ownedRuntimeDir_ = opts_.stateDir + "-run";
    argv.insert(argv.end(), {"--runtime-dir", rt});
  }
  argv.insert(argv.end(), opts_.args.begin(), opts_.args.end());
  auto envMap = opts_.env;
  // Tests never reach the internet (ARCHITECTURE.md §Layout and test fixtures).
  envMap.emplace("TS_CONTROL_URL", "http://127.0.0.1:9");
  envMap.emplace("TS_DEBUG_OMIT_LOCAL_ADDRS", "1");
  if (serviceDir() != binDir()) envMap.emplace("TAILNETD_LIBEXEC_DIR", serviceDir());
  TNET_TRY(pid_t pid, spawnInOwnGroup(argv, envMap, logPath_, false));
  pid_ = pid;
  return {};
}

bool Suite::running() const {
  if (pid_ <= 0 || exited_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exited_ = true;
    status_ = status;
    return false;
  }
  return true;
}

Result<void> Suite::waitReady(std::chrono::milliseconds timeout) {
  bool ok = waitUntil(
      [&] {
        if (!running()) return true;
        auto r = localApi(socket_, "GET", "/localapi/v0/status", "", std::nullopt, 2s);
        return r && r->status == 200;
      },
      timeout);
  if (!running()) return Error::failed("tailnetd exited: " + stderrText());
  if (!ok) return Error::failed("suite not ready in time; stderr:\n" + stderrText());
  return {};
}

Result<int> Suite::waitExit(std::chrono::milliseconds timeout) {
  if (waitUntil([&] { return !running(); }, timeout)) return status_;
  return Error::failed("tailnetd still running");
}

Result<int> Suite::stop(std::chrono::milliseconds timeout) {
  if (!running()) return status_;
  kill(pid_, SIGTERM);
  return waitExit(timeout);
}

std::string Suite::stderrText() const {
  return readWholeFile(logPath_);
}

std::map<std::string, pid_t> Suite::services() const {
  std::map<std::string, pid_t> out;
  for (const auto& [pid, name] : childProcesses(pid_)) {
    // A child forked but not yet exec'd still shows tailnetd's own argv: not a service yet.
    if (name != "tailnetd") out[name] = pid;
  }
  return out;
}

std::string Suite::runtimeDir() const {
  std::string log = stderrText();
  auto pos = log.find("runtime_dir=");
  if (pos == std::string::npos) return "";
  pos += 12;
  auto end = log.find_first_of(" \n", pos);
  std::string v = log.substr(pos, end - pos);
  if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
  return v;
}

Result<HttpResponse> Suite::get(const std::string& path, std::optional<uid_t> asUid) const {
  return localApi(socket_, "GET", path, "", asUid);
}

Result<HttpResponse> Suite::request(const std::string& method, const std::string& path,
                                    const std::string& body, std::optional<uid_t> asUid) const {
  return localApi(socket_, method, path, body, asUid);
}

Fixture::Fixture(std::string name, FixtureOptions opts) : name_(std::move(name)), opts_(std::move(opts)) {
  static std::atomic<int> counter{0};
  std::string base = std::filesystem::temp_directory_path().string() + "/tnet-fixture-" + name_ + "-" +
                     std::to_string(getpid()) + "-" + std::to_string(counter++);
  portFile_ = base + ".port";
  logPath_ = base + ".log";
}

Fixture::~Fixture() {
  if (pid_ > 0 && !exited_) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    waitUntil([&] { return liveProcessesInGroup(pid_) == 0; }, 5s);
  }
  unlink(portFile_.c_str());
  unlink(logPath_.c_str());
}

bool Fixture::running() const {
  if (pid_ <= 0 || exited_) return false;
  if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
    exited_ = true;
    return false;
  }
  return true;
}

Result<void> Fixture::start() {
  if (running()) return Error::failed(name_ + " is already running");
  auto exe = findBinary(name_);
  if (!exe) return Error::failed(name_ + " is not built");
  unlink(portFile_.c_str());
  std::vector<std::string> argv = opts_.wrapper;
  argv.push_back(*exe);
  argv.insert(argv.end(), opts_.args.begin(), opts_.args.end());
  argv.insert(argv.end(), {"--port-file", portFile_});
  // Appended: the log keeps what the previous run wrote across stop() and start().
  TNET_TRY(pid_t pid, spawnInOwnGroup(argv, opts_.env, logPath_, true));
  pid_ = pid;
  exited_ = false;
  bool ok = waitUntil(
      [&] {
        if (!running()) return true;
        std::string text = readWholeFile(portFile_);
        // "<port>\n", or a JSON object (testderp); a partial write is neither.
        if (!text.empty() && text.front() == '{') return !nlohmann::json::parse(text, nullptr, false).is_discarded();
        return !text.empty() && text.back() == '\n';
      },
      scaled(opts_.readyTimeout));
  if (!running()) return Error::failed(name_ + " exited during start:\n" + output());
  if (!ok) return Error::failed(name_ + " did not write its port file in time:\n" + output());
  std::string text = readWholeFile(portFile_);
  if (text.front() == '{') {
    info_ = nlohmann::json::parse(text, nullptr, false);
    for (const char* k : {"port", "derpPort"}) {
      if (info_.contains(k) && info_[k].is_number_unsigned()) port_ = info_[k].get<uint16_t>();
    }
  } else {
    port_ = static_cast<uint16_t>(std::atoi(text.c_str()));
  }
  if (port_ == 0) return Error::failed(name_ + " wrote no port:\n" + output());
  return {};
}

void Fixture::stop(std::chrono::milliseconds timeout) {
  if (!running()) return;
  kill(-pid_, SIGTERM);
  if (!waitUntil([&] { return !running(); }, scaled(timeout))) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exited_ = true;
  }
}

std::string Fixture::output() const {
  return readWholeFile(logPath_);
}

ProcessResult runTnet(const std::string& socket, const std::vector<std::string>& args,
                      const RunOptions& opts) {
  std::vector<std::string> argv = {binDir() + "/tnet", "--socket", socket};
  argv.insert(argv.end(), args.begin(), args.end());
  return runProcess(argv, opts);
}

std::map<pid_t, std::string> childProcesses(pid_t parent) {
  std::map<pid_t, std::string> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::string stat = readWholeFile("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != parent || state == 'Z') continue;
    std::string cmd = readWholeFile("/proc/" + std::to_string(pid) + "/cmdline");
    std::string arg0 = cmd.substr(0, cmd.find('\0'));
    out[pid] = arg0.substr(arg0.rfind('/') == std::string::npos ? 0 : arg0.rfind('/') + 1);
  }
  closedir(d);
  return out;
}

Result<NetNamespace> NetNamespace::create() {
  static std::atomic<int> counter{0};
  std::string name = "tnet-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  auto r = runProcess({"ip", "netns", "add", name});
  if (r.exitCode != 0) return Error::failed("ip netns add " + name + ": " + r.err);
  return NetNamespace(name);
}

NetNamespace::~NetNamespace() {
  if (!name_.empty()) runProcess({"ip", "netns", "del", name_});
}

std::vector<std::string> NetNamespace::exec(const std::vector<std::string>& argv) const {
  std::vector<std::string> out = {"ip", "netns", "exec", name_};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::vector<std::string> processArgv(pid_t pid) {
  std::string raw = readWholeFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t end = raw.find('\0', pos);
    if (end == std::string::npos) end = raw.size();
    out.push_back(raw.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::vector<std::string> processEnviron(pid_t pid) {
  std::string raw = readWholeFile("/proc/" + std::to_string(pid) + "/environ");
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t end = raw.find('\0', pos);
    if (end == std::string::npos) end = raw.size();
    out.push_back(raw.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::vector<int> processFds(pid_t pid) {
  std::vector<int> out;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> binariesReachableBy(uid_t uid, gid_t gid, const std::vector<std::string>& names,
                                        const std::string& scratchDir, const std::string& sourceDir) {
  std::string from = sourceDir.empty() ? binDir() : sourceDir;
  bool reachable = true;
  for (const auto& n : names) {
    RunOptions o;
    o.uid = uid;
    o.gid = gid;
    if (runProcess({"test", "-x", from + "/" + n}, o).exitCode != 0) reachable = false;
  }
  if (reachable) return from;
  std::error_code ec;
  std::filesystem::create_directories(scratchDir, ec);
  chmod(scratchDir.c_str(), 0755);
  for (const auto& n : names) {
    std::filesystem::copy_file(from + "/" + n, scratchDir + "/" + n,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return Error::failed("cannot copy " + n + ": " + ec.message());
    chmod((scratchDir + "/" + n).c_str(), 0755);
  }
  return scratchDir;
}

std::vector<std::string> asNobody() {
  return {"setpriv", "--reuid=" + std::to_string(nobodyUid()), "--regid=" + std::to_string(nogroupGid()),
          "--clear-groups"};
}

uid_t nobodyUid() {
  struct passwd* pw = getpwnam("nobody");
  return pw ? pw->pw_uid : 65534;
}

gid_t nogroupGid() {
  struct group* g = getgrnam("nogroup");
  return g ? g->gr_gid : 65534;
}

}  // namespace tnet::harness
