// A stand-in service for the supervisor's process-contract tests: it honours the service argv
// contract (docs/contracts.md §Processes and argv) and does what a real service does towards
// the supervisor — READY=1 on NOTIFY_SOCKET, the LocalAPI socket on fd 3 for apid, the config
// pipe for ipnd — so the supervisor's own behaviour (order, identity, namespaces, descriptors,
// environment, restarts, stop) is tested for real before and besides the real services.
// Behaviour is chosen by a file the test writes: <state-dir>/fixture-mode containing
// "crash-at-start", "ignore-term" or nothing.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace {

std::string argValue(int argc, char** argv, const char* name) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return "";
}

bool notifyReady() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const char msg[] = "STATUS=fixture up\nREADY=1\n";
  bool ok = sendto(fd, msg, sizeof(msg) - 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) >= 0;
  close(fd);
  return ok;
}

// Answers every connection on the inherited listening socket with the caller's uid, so tests
// can see the socket arrived and that SO_PEERCRED works through it.
[[noreturn]] void serveLocalApi(int listenFd, const std::string& name) {
  for (;;) {
    int c = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    ucred cred{};
    socklen_t len = sizeof(cred);
    getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    char buf[4096];
    std::string req;
    while (req.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) break;
      ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    std::string body = "{\"fixture\":\"" + name + "\",\"peerUid\":" + std::to_string(cred.uid) + "}";
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    ssize_t ignored = write(c, resp.data(), resp.size());
    (void)ignored;
    close(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = argv[0];
  std::string stateDir = argValue(argc, argv, "--state-dir");
  if (argValue(argc, argv, "--runtime-dir").empty() || stateDir.empty()) {
    std::fprintf(stderr, "%s: --runtime-dir and --state-dir are required\n", name.c_str());
    return 2;
  }
  std::string mode;
  {
    std::ifstream in(stateDir + "/fixture-mode");
    std::getline(in, mode);
  }
  if (mode == "crash-at-start") {
    std::fprintf(stderr, "%s: crashing as told\n", name.c_str());
    return 3;
  }
  if (mode == "ignore-term") signal(SIGTERM, SIG_IGN);

  std::string configFd = argValue(argc, argv, "--config-fd");
  if (!configFd.empty()) {
    int fd = std::atoi(configFd.c_str());
    std::string doc;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) doc.append(buf, static_cast<size_t>(n));
    close(fd);
    std::ofstream out(stateDir + "/config-received");
    out << doc;
  }

  if (!notifyReady()) {
    std::fprintf(stderr, "%s: cannot notify readiness\n", name.c_str());
    return 4;
  }
  const char* listenPid = std::getenv("LISTEN_PID");
  const char* listenFds = std::getenv("LISTEN_FDS");
  if (listenPid != nullptr && listenFds != nullptr && std::atoi(listenPid) == getpid() &&
      std::atoi(listenFds) == 1) {
    serveLocalApi(3, name);
  }
  for (;;) pause();
}
