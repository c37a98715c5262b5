// Test support for apid's contract tests: a scratch directory, the listening socket tailnetd
// would hand over, the real bin/apid (and bin/ipnd) started as tailnetd starts them, and a raw
// HTTP/1.1 client over the Unix socket (raw, so malformed requests can be sent too).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tnet::apid::testing {

// TAILNETD_TEST_TIME_SCALE (3 under sanitizers) applied to a test time bound.
std::chrono::milliseconds scaled(std::chrono::milliseconds ms);

// <dir of this test binary>: every executable lands in <build>/bin.
std::string binDir();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A listening AF_UNIX stream socket at `path` (mode 0666, as tailnetd makes it).
int listenUnix(const std::string& path);

class Process {
 public:
  // Starts `argv[0]` with `env` added. When listenFd >= 0 it becomes fd 3 with LISTEN_FDS=1 and
  // LISTEN_PID set to the child's pid, as sd_listen_fds expects. stderr goes to `logPath`.
  Process(std::vector<std::string> argv, int listenFd, const std::string& logPath);
  ~Process();  // SIGTERM, then SIGKILL after a grace period
  pid_t pid() const { return pid_; }
  bool running();
  // SIGTERM and wait; returns the exit status (or -1).
  int stop();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string body;                                 // de-chunked
  bool closed = false;                              // the server closed after it
  std::string header(const std::string& lowerName) const;
};

// One client connection.
class HttpConn {
 public:
  explicit HttpConn(const std::string& socketPath);
  ~HttpConn();
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // Reads one response (status, headers, body by Content-Length, chunked or close).
  std::optional<HttpResponse> read(std::chrono::milliseconds timeout);
  // For streams: reads the response head only.
  std::optional<HttpResponse> readHead(std::chrono::milliseconds timeout);
  // For chunked streams: the next chunk's data ("" at the last chunk), nullopt on timeout/close.
  std::optional<std::string> readChunk(std::chrono::milliseconds timeout);
  // Reads until the unread bytes contain `needle` (raw streams); false on timeout or close.
  bool waitFor(const std::string& needle, std::chrono::milliseconds timeout);
  // True when the server closed the connection within `timeout`.
  bool waitClosed(std::chrono::milliseconds timeout);
  int fd() const { return fd_; }

 private:
  bool fill(std::chrono::milliseconds timeout);  // reads more into buf_
  std::optional<std::string> readLine(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

// A request in wire form with the Go client's Host header.
std::string request(const std::string& method, const std::string& target, const std::string& body = "",
                    const std::string& extraHeaders = "");

// Sends one request on a fresh connection and reads the answer.
std::optional<HttpResponse> roundTrip(const std::string& socketPath, const std::string& raw,
                                      std::chrono::milliseconds timeout);

// Waits until `path` exists.
bool waitForPath(const std::string& path, std::chrono::milliseconds timeout);

}  // namespace tnet::apid::testing
