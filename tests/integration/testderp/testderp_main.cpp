// testderp: a DERP relay + STUN responder for tests and the demo (docs/testderp.md).
//   testderp --listen 127.0.0.1:0 [--stun-port N|0] [--port-file F] [--keepalive-ms N]
//            [--key-file F]
// Prints and (with --port-file) writes {"derpPort":N,"stunPort":M,"serverPublic":"nodekey:…"}
// once listening; runs until SIGTERM/SIGINT.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/testderp/derp_server.h"
#include "tests/integration/testderp/tls_front.h"

namespace {

bool splitHostPort(const std::string& s, std::string& host, uint16_t& port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    int p = std::stoi(s.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    port = uint16_t(p);
  } catch (...) {
    return false;
  }
  return !host.empty();
}

// The server key persists like derper's config file, so a restarted server keeps its identity.
tnet::Result<tnet::key::NodePrivate> loadOrCreateKey(const std::string& path) {
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return tnet::key::NodePrivate::parse(text);
  }
  auto k = tnet::key::NodePrivate::generate();
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return tnet::Error::failed("cannot write key file " + path);
  auto text = k.toText();
  std::string line = std::string(text.view()) + "\n";
  bool ok = write(fd, line.data(), line.size()) == ssize_t(line.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0)
    return tnet::Error::failed("cannot write key file " + path);
  return k;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"testderp: DERP relay and STUN responder for tests"};
  std::string listen = "127.0.0.1:0";
  int stunPort = -1;
  std::string portFile;
  std::string keyFile;
  int keepAliveMs = 60000;
  int tlsPort = -1;
  std::string tlsName = "derp.test";
  app.add_option("--listen", listen, "HOST:PORT to serve DERP on (plain HTTP)");
  app.add_option("--stun-port", stunPort, "UDP port for STUN on the same host (0 = pick one; unset = none)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--port-file", portFile, "write the ports and server key here (JSON) once listening");
  app.add_option("--key-file", keyFile, "server private key file (created 0600 when missing)");
  app.add_option("--keepalive-ms", keepAliveMs, "KeepAlive frame interval (Go: 60000 + jitter)")
      ->check(CLI::Range(10, 3600000));
  app.add_option("--tls-port", tlsPort, "also serve DERP over TLS here (self-signed; 0 = pick one)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--tls-name", tlsName, "CN of the self-signed TLS certificate");
  CLI11_PARSE(app, argc, argv);

  tnet::testderp::ServerOptions opts;
  if (!splitHostPort(listen, opts.host, opts.port)) {
    std::fprintf(stderr, "testderp: --listen wants HOST:PORT, got %s\n", listen.c_str());
    return 2;
  }
  if (stunPort >= 0) opts.stunPort = uint16_t(stunPort);
  opts.keepAlive = std::chrono::milliseconds(keepAliveMs);
  opts.keepAliveJitter = keepAliveMs == 60000;
  if (!keyFile.empty()) {
    auto k = loadOrCreateKey(keyFile);
    if (!k) {
      std::fprintf(stderr, "testderp: %s\n", k.error().message.c_str());
      return 1;
    }
    opts.serverKey = std::move(*k);
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread exists
  signal(SIGPIPE, SIG_IGN);

  auto server = tnet::testderp::DerpServer::start(std::move(opts));
  if (!server) {
    std::fprintf(stderr, "testderp: %s\n", server.error().message.c_str());
    return 1;
  }
  nlohmann::json info = {{"derpPort", (*server)->port()},
                         {"stunPort", (*server)->stunPort()},
                         {"serverPublic", (*server)->serverPublic().toString()}};
  std::unique_ptr<tnet::testderp::TlsFront> tls;
  if (tlsPort >= 0) {
    auto t = tnet::testderp::TlsFront::start(opts.host, uint16_t(tlsPort), (*server)->port(), tlsName);
    if (!t) {
      std::fprintf(stderr, "testderp: %s\n", t.error().message.c_str());
      return 1;
    }
    tls = std::move(*t);
    info["tlsPort"] = tls->port();
    info["certPin"] = tls->certPin();
  }
  std::string line = info.dump() + "\n";
  if (!portFile.empty()) {
    std::string tmp = portFile + ".tmp";
    std::ofstream(tmp) << line;
    if (rename(tmp.c_str(), portFile.c_str()) != 0) {
      std::fprintf(stderr, "testderp: cannot write %s\n", portFile.c_str());
      return 1;
    }
  }
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  if (tls) tls->stop();
  (*server)->stop();
  const auto& st = (*server)->stats();
  std::fprintf(
      stderr,
      "testderp.stop accepted=%lu handshakes=%lu forwarded=%lu dropped=%lu protocol_errors=%lu stun=%lu\n",
      (unsigned long)st.accepted, (unsigned long)st.handshakes, (unsigned long)st.forwarded,
      (unsigned long)st.droppedNoPeer, (unsigned long)st.protocolErrors, (unsigned long)st.stunRequests);
  return 0;
}
