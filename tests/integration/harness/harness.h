// The shared library for multi-process tests: temporary directories, spawning whole suites
// (tailnetd) in their own process group that a destructor always kills, waiting for sockets,
// LocalAPI requests over a Unix socket (optionally from another uid), running `tnet`, reading
// JSON, finding a suite's service processes in /proc, and network namespaces with cleanup.
// Two small tools are built beside it for the tailnet tests: tnet-test-httpd (a page server,
// with --udp-echo a UDP echo too) and tnet-test-udp (one UDP exchange through a SOCKS5 proxy's
// UDP ASSOCIATE; exit 0 reply, 1 silence, 2 proxy error). Their file headers describe them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/result.h"

namespace tnet::harness {

using namespace std::chrono_literals;

// TAILNETD_TEST_TIME_SCALE (default 1; 3 under sanitizers) applied to a time bound.
double timeScale();
std::chrono::milliseconds scaled(std::chrono::milliseconds d);

// <TNET_BINARY_DIR>/bin, or the directory of the running test binary.
std::string binDir();
// Path of an executable in binDir(), or nullopt when it is not built (yet).
std::optional<std::string> findBinary(const std::string& name);
// "" when every binary exists, else "missing binaries: a, b (not built yet)" for GTEST_SKIP.
std::string missingBinaries(const std::vector<std::string>& names);
// Where the six service binaries are: $TNET_SUITE_LIBEXEC_DIR (to test binaries from another
// build), else binDir(). Suite passes it as TAILNETD_LIBEXEC_DIR when it differs from binDir().
std::string serviceDir();
// Like missingBinaries, for the six services in serviceDir().
std::string missingServices();
// The suite: tailnetd + its six services (+ tnet when `withCli`).
std::vector<std::string> suiteBinaries(bool withCli = false);

// A directory removed (recursively) when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "tnet-test", mode_t mode = 0700);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& leaf) const { return path_ + "/" + leaf; }

 private:
  std::string path_;
};

struct ProcessResult {
  int exitCode = -1;  // -1 when killed by a signal or timed out
  bool timedOut = false;
  std::string out;
  std::string err;
};

struct RunOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) our environment
  std::optional<uid_t> uid;                // run as this uid/gid (needs root)
  std::optional<gid_t> gid;
  std::chrono::milliseconds timeout = 20s;  // scaled
};

// Runs argv to completion (killing it after the timeout) and captures stdout and stderr.
ProcessResult runProcess(const std::vector<std::string>& argv, const RunOptions& opts = {});

// Polls `pred` every 20 ms until it holds or the (scaled) timeout passes.
bool waitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  nlohmann::json json() const;  // discarded value when the body is not JSON
};

// One HTTP/1.1 request over a Unix socket (Host: local-tailscaled.sock, as Go's client sends).
// With `asUid`, a forked child switches to that uid (and gid) before connecting, so apid's
// SO_PEERCRED sees it.
Result<HttpResponse> localApi(const std::string& socket, const std::string& method, const std::string& path,
                              const std::string& body = "", std::optional<uid_t> asUid = std::nullopt,
                              std::chrono::milliseconds timeout = 10s);

// One HTTP/1.1 request over TCP to host:port (a fixture's admin API, a page behind a proxy).
Result<HttpResponse> httpRequest(const std::string& host, uint16_t port, const std::string& method,
                                 const std::string& path, const std::string& body = "",
                                 std::chrono::milliseconds timeout = 10s);

// Whether something accepts connections on the Unix socket path.
bool socketAccepts(const std::string& path);

struct SuiteOptions {
  std::vector<std::string> args;           // extra tailnetd flags
  std::map<std::string, std::string> env;  // extra environment
  std::string stateDir;                    // --statedir (required)
  std::string socket;                      // --socket; default <stateDir>/tailnetd.sock
  std::string runtimeDir;                  // --runtime-dir; default <stateDir>-run (kept hermetic)
  bool tailnetdDefaultRuntimeDir = false;  // pass no --runtime-dir: let tailnetd choose
  std::string binDir;                      // where tailnetd lives (default binDir())
  std::vector<std::string> wrapper;        // e.g. {"setpriv", "--reuid=nobody", ...}
};

// A running tailnetd in its own process group. The destructor kills the whole group (every
// service too) with SIGKILL and reaps it, whatever the test did.
class Suite {
 public:
  explicit Suite(SuiteOptions opts);
  ~Suite();
  Suite(const Suite&) = delete;
  Suite& operator=(const Suite&) = delete;

  // Starts tailnetd; fails when the executable is missing.
  Result<void> start();
  // Waits until the LocalAPI socket accepts connections and /localapi/v0/status answers 200.
  Result<void> waitReady(std::chrono::milliseconds timeout = 20s);
  // SIGTERM and wait (scaled); returns the exit status as from waitpid, or an error on timeout.
  Result<int> stop(std::chrono::milliseconds timeout = 15s);
  // Waits for tailnetd to exit by itself.
  Result<int> waitExit(std::chrono::milliseconds timeout = 15s);

  pid_t pid() const { return pid_; }
  bool running() const;
  const std::string& socket() const { return socket_; }
  const std::string& stateDir() const { return opts_.stateDir; }
  std::string stderrText() const;  // tailnetd's (and the services') stderr so far

  // The suite's service processes: argv[0] → pid (children of tailnetd that exec'd a service).
  std::map<std::string, pid_t> services() const;
  // The runtime dir from tailnetd's "suite.start ... runtime_dir=" log line.
  std::string runtimeDir() const;

  Result<HttpResponse> get(const std::string& path, std::optional<uid_t> asUid = std::nullopt) const;
  Result<HttpResponse> request(const std::string& method, const std::string& path, const std::string& body,
                               std::optional<uid_t> asUid = std::nullopt) const;

 private:
  SuiteOptions opts_;
  std::string socket_;
  std::string logPath_;
  std::string ownedRuntimeDir_;  // chosen by us: removed with the object
  pid_t pid_ = 0;
  mutable int status_ = 0;
  mutable bool exited_ = false;
};

struct FixtureOptions {
  std::vector<std::string> args;           // flags besides --port-file
  std::map<std::string, std::string> env;  // extra environment
  std::vector<std::string> wrapper;        // e.g. NetNamespace::exec({}) to run inside a netns
  std::chrono::milliseconds readyTimeout = 10s;  // scaled
};

// A test server binary (testcontrol, testderp) in its own process group. It is started with
// `--port-file <tmp>` and is ready once that file holds its listening port. The destructor kills
// the group and reaps it, whatever the test did.
class Fixture {
 public:
  Fixture(std::string name, FixtureOptions opts);
  ~Fixture();
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  // Starts (or restarts after stop()) the binary and waits for its port file.
  Result<void> start();
  // SIGTERM, then SIGKILL after the (scaled) timeout; reaps it.
  void stop(std::chrono::milliseconds timeout = 5s);
  bool running() const;

  // The listening port: the port file's number, or its JSON's "port" / "derpPort".
  uint16_t port() const { return port_; }
  // The port file's JSON object (testderp: derpPort, stunPort, serverPublic; tnet-test-httpd
  // --udp-echo: port, udpPort); null otherwise.
  const nlohmann::json& info() const { return info_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string output() const;  // stdout + stderr so far
  FixtureOptions& options() { return opts_; }

 private:
  std::string name_;
  FixtureOptions opts_;
  std::string portFile_;
  std::string logPath_;
  pid_t pid_ = 0;
  uint16_t port_ = 0;
  nlohmann::json info_;
  mutable bool exited_ = false;
};

// Runs `tnet --socket <socket> args...`.
ProcessResult runTnet(const std::string& socket, const std::vector<std::string>& args,
                      const RunOptions& opts = {});

// The pids whose parent is `parent`, with their argv[0].
std::map<pid_t, std::string> childProcesses(pid_t parent);

// A named network namespace (tnet-<pid>-<n>) deleted with its object.
class NetNamespace {
 public:
  static Result<NetNamespace> create();
  NetNamespace(NetNamespace&& o) noexcept : name_(std::move(o.name_)) { o.name_.clear(); }
  ~NetNamespace();
  const std::string& name() const { return name_; }
  // argv prefixed with `ip netns exec <name>`.
  std::vector<std::string> exec(const std::vector<std::string>& argv) const;

 private:
  explicit NetNamespace(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

// /proc helpers for checking what a process was given.
std::vector<std::string> processArgv(pid_t pid);
std::vector<std::string> processEnviron(pid_t pid);
std::vector<int> processFds(pid_t pid);

// A directory holding `names` from binDir() that `uid` can execute: binDir() itself when every
// path component is reachable by that uid, else copies in scratchDir (made 0755).
Result<std::string> binariesReachableBy(uid_t uid, gid_t gid, const std::vector<std::string>& names,
                                        const std::string& scratchDir, const std::string& sourceDir = "");

// setpriv prefix that runs a command as nobody/nogroup with no supplementary groups.
std::vector<std::string> asNobody();

// Test users for root-mode tests: nobody/nogroup.
uid_t nobodyUid();
gid_t nogroupGid();

}  // namespace tnet::harness
