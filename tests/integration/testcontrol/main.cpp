// testcontrol: a Tailscale-protocol control server for tests and the local demo
// (docs/testcontrol.md). libs/net's Ts2021Server carries the protocol (GET /key, the /ts2021
// upgrade, Noise, HTTP/2); ControlServer holds the tailnet; this file wires the two together
// and serves the admin API on the same listener.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "libs/base/fd_read.h"
#include "libs/bus/loop.h"
#include "libs/log/log.h"
#include "libs/net/ts2021_server.h"
#include "libs/net/url.h"
#include "tests/integration/testcontrol/control_server.h"

namespace tnet::testcontrol {
namespace {

struct Flags {
  std::string listen = "127.0.0.1:0";
  std::string derpUrl;
  int derpStunPort = -1;
  std::string portFile;
  std::string state = "none";
  std::string domain = "tailnet.test";
  std::string serverUrl;
  bool requireMachineAuth = false;
  double keepAliveSeconds = 60;
  size_t syntheticPeers = 0;
  int logLevel = 0;
};

int64_t wallNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t monoNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void respond(net::H2ResponseWriter& w, const HttpReply& r) {
  net::HeaderList headers;
  if (!r.contentType.empty()) headers.emplace_back("content-type", r.contentType);
  w.respond(r.status, std::move(headers), r.body);
}

// "http://<listen host>:<port>" with a wildcard listen address replaced by loopback.
std::string baseUrl(const std::string& listen, uint16_t port) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "[::]") host = "[::1]";
  return "http://" + host + ":" + std::to_string(port);
}

// "<port>\n", written whole (rename) so a reader never sees a partial number: the contract of
// tests/integration/harness's Fixture.
Result<void> writePortFile(const std::string& path, uint16_t port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << port << "\n";
    if (!f.flush()) return Error::failed("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::failed("cannot rename " + tmp + " to " + path);
  return {};
}

// --state FILE: {"serverKey":"privkey:…","tailnet":{…}} in a 0600 file, replaced atomically.
// It holds the control key and the auth keys, so it is written only with owner access.
Result<void> saveState(const std::string& path, const key::MachinePrivate& serverKey,
                       const ControlServer& control) {
  ipn::OrderedJson j = ipn::OrderedJson::object();
  j["serverKey"] = std::string(serverKey.toText().view());
  j["tailnet"] = control.exportState();
  crypto::SecretString text(ipn::goMarshal(j) + "\n");
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error::failed("cannot create " + tmp);
  std::string_view rest = text.view();
  while (!rest.empty()) {
    ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n <= 0) {
      ::close(fd);
      return Error::failed("cannot write " + tmp);
    }
    rest.remove_prefix(size_t(n));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return Error::failed("cannot write " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Error::failed("cannot rename " + tmp);
  return {};
}

struct LoadedState {
  key::MachinePrivate serverKey;
  std::optional<ipn::Json> tailnet;
};

Result<LoadedState> loadState(const std::string& path) {
  LoadedState out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno != ENOENT) return Error::failed("cannot open " + path);
    out.serverKey = key::MachinePrivate::generate();
    return out;
  }
  auto bytes = readFdToEnd(fd, 256u << 20);
  ::close(fd);
  if (!bytes) return Error::failed(path + ": " + bytes.error().message);
  TNET_TRY(ipn::Json j, ipn::parseJson(*bytes));
  if (!j.is_object() || !j.contains("serverKey") || !j["serverKey"].is_string() || !j.contains("tailnet")) {
    return Error::invalid(path + ": not a testcontrol state file");
  }
  TNET_TRY(out.serverKey, key::MachinePrivate::parse(j["serverKey"].get<std::string>()));
  out.tailnet = std::move(j["tailnet"]);
  return out;
}

// Serves the control protocol's Noise-side endpoints (Go testcontrol's serveMachine).
void serveNoise(ControlServer& control, const net::NoisePeer& peer, net::ServerHttpRequest req,
                std::shared_ptr<net::H2ResponseWriter> w) {
  std::string path = req.target.substr(0, req.target.find('?'));
  auto& log = log::logger();
  std::string mkey = log::shortKey("mkey:", peer.machinePublic.raw());
  // A PingRequest answered over Noise (URLIsNoise): Go's client sends HEAD <URL>.
  if (path.rfind("/ping/", 0) == 0) {
    bool known = control.answerPing(std::string_view(path).substr(6), true);
    log.info("ping.answer machine={} known={}", mkey, known);
    return respond(*w, known ? HttpReply{200, "", ""} : httpError(404, "404 page not found"));
  }
  if (path.rfind("/machine/", 0) != 0) return respond(*w, httpError(404, "404 page not found"));
  if (req.method != "POST") return respond(*w, httpError(400, "POST required for serveMachine"));
  if (path == "/machine/register") {
    std::weak_ptr<net::H2ResponseWriter> weak = w;
    uint64_t waiter = control.handleRegister(peer.machinePublic, req.body, [weak, mkey](HttpReply r) {
      log::logger().info("register.reply machine={} status={}", mkey, r.status);
      if (auto sw = weak.lock()) respond(*sw, r);
    });
    if (waiter != 0) {
      log.info("register.waiting machine={} waiter={}", mkey, waiter);
      w->onClose([&control, waiter] { control.cancelRegister(waiter); });
    }
    return;
  }
  if (path == "/machine/map") {
    auto started = std::make_shared<bool>(false);
    std::weak_ptr<net::H2ResponseWriter> weak = w;
    MapSink sink;
    sink.write = [weak, started](std::string bytes) {
      auto sw = weak.lock();
      if (!sw || sw->closed()) return;
      if (!*started) {
        *started = true;
        sw->start(200, {});
      }
      sw->write(std::move(bytes));
    };
    sink.close = [weak, started] {
      auto sw = weak.lock();
      if (!sw || sw->closed()) return;
      if (!*started) {
        *started = true;
        sw->start(200, {});
      }
      sw->end();
    };
    uint64_t session = 0;
    auto reply = control.handleMap(peer.machinePublic, req.body, std::move(sink), &session);
    if (reply) {
      if (reply->status != 200) log.info("map.rejected machine={} status={}", mkey, reply->status);
      return respond(*w, *reply);
    }
    log.info("map.stream machine={} session={}", mkey, session);
    // The writer holds this callback: capture nothing that owns the writer.
    w->onClose([&control, session, mkey] {
      log::logger().info("map.end machine={} session={}", mkey, session);
      control.endSession(session);
    });
    return;
  }
  if (path == "/machine/update-health") return respond(*w, {204, "", ""});  // as Go's testcontrol
  respond(*w, httpError(404, "404 page not found"));
}

int run(const Flags& flags) {
  log::init("testcontrol", flags.logLevel);
  bool persist = flags.state != "none";
  LoadedState loaded;
  if (persist) {
    auto l = loadState(flags.state);
    if (!l) {
      std::fprintf(stderr, "testcontrol: --state: %s\n", l.error().message.c_str());
      return 2;
    }
    loaded = std::move(*l);
  } else {
    loaded.serverKey = key::MachinePrivate::generate();
  }
  std::optional<DerpOptions> derp;
  if (!flags.derpUrl.empty()) {
    auto u = net::parseUrl(flags.derpUrl);
    if (!u) {
      std::fprintf(stderr, "testcontrol: --derp-url: %s\n", u.error().message.c_str());
      return 2;
    }
    derp = DerpOptions{u->host, u->port, flags.derpStunPort};
  }

  // SIGTERM/SIGINT end the loop through a signalfd (blocked before any thread exists).
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) {
    std::perror("signalfd");
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);

  bus::Loop loop;
  std::unique_ptr<ControlServer> control;
  net::Ts2021ServerOptions o;
  o.listen = flags.listen;
  o.serverKey = loaded.serverKey.clone();
  o.onNoiseRequest = [&control](const net::NoisePeer& peer, net::ServerHttpRequest req,
                                std::shared_ptr<net::H2ResponseWriter> w) {
    serveNoise(*control, peer, std::move(req), std::move(w));
  };
  o.onNoiseClosed = [](const net::NoisePeer& peer) {
    log::logger().debug("noise.closed machine={} conn={}", log::shortKey("mkey:", peer.machinePublic.raw()),
                        peer.connId);
  };
  o.onHttpRequest = [&control](net::ServerHttpRequest req,
                               std::function<void(int, std::string, std::string)> reply) {
    std::string path = req.target.substr(0, req.target.find('?'));
    if (path == "/generate_204") return reply(204, "", "");
    HttpReply r = control->handleAdmin(req.method, req.target, req.body);
    log::logger().info("admin method={} path={} status={}", log::quote(req.method), log::quote(path),
                       r.status);
    reply(r.status, r.contentType, r.body);
  };
  auto server = net::Ts2021Server::create(loop, std::move(o));
  if (!server) {
    std::fprintf(stderr, "testcontrol: listen %s: %s\n", flags.listen.c_str(),
                 server.error().message.c_str());
    return 1;
  }
  std::string url = flags.serverUrl.empty() ? baseUrl(flags.listen, (*server)->port()) : flags.serverUrl;

  ControlOptions co;
  co.baseUrl = url;
  co.domain = flags.domain;
  co.requireMachineAuth = flags.requireMachineAuth;
  co.derp = derp;
  co.keepAliveMs = int64_t(flags.keepAliveSeconds * 1000);
  co.wallNow = wallNow;
  co.monoNowMs = monoNowMs;
  control = std::make_unique<ControlServer>(std::move(co));
  if (loaded.tailnet) {
    if (auto r = control->importState(*loaded.tailnet); !r) {
      std::fprintf(stderr, "testcontrol: --state %s: %s\n", flags.state.c_str(), r.error().message.c_str());
      return 2;
    }
    log::logger().info("state.loaded file={} nodes={}", log::quote(flags.state), control->nodeCount());
  }
  if (flags.syntheticPeers > 0) {
    if (auto r = control->addSyntheticPeers(flags.syntheticPeers); !r) {
      std::fprintf(stderr, "testcontrol: --synthetic-peers: %s\n", r.error().message.c_str());
      return 2;
    }
  }

  auto tickPeriod =
      std::chrono::milliseconds(std::clamp<int64_t>(int64_t(flags.keepAliveSeconds * 250), 10, 1000));
  uint64_t savedVersion = 0;
  auto save = [&] {
    if (!persist || control->stateVersion() == savedVersion) return;
    if (auto r = saveState(flags.state, loaded.serverKey, *control); !r) {
      log::logger().warn("state.save error={}", log::quote(r.error().message));
      return;
    }
    savedVersion = control->stateVersion();
  };
  save();
  bus::Handle ticker = loop.every(tickPeriod, [&] { control->tick(); });
  // Changes reach the file within 100 ms (a test may kill -9 us right after a join).
  bus::Handle saver = loop.every(std::chrono::milliseconds(100), save);
  bus::Handle signals = loop.watchFd(sfd, [&] {
    signalfd_siginfo si;
    while (::read(sfd, &si, sizeof si) == sizeof si) {
      log::logger().info("stop signal={}", si.ssi_signo);
      loop.stop();
    }
  });

  if (!flags.portFile.empty()) {
    if (auto r = writePortFile(flags.portFile, (*server)->port()); !r) {
      std::fprintf(stderr, "testcontrol: %s\n", r.error().message.c_str());
      return 1;
    }
  }
  std::printf("%s\n", url.c_str());
  std::fflush(stdout);
  log::logger().info("listening url={} key={} derp={} synthetic={}", url,
                     log::shortKey("mkey:", (*server)->publicKey().raw()), derp ? flags.derpUrl : "none",
                     flags.syntheticPeers);
  loop.run();
  save();
  saver.reset();
  ticker.reset();
  signals.reset();
  server->reset();
  ::close(sfd);
  return 0;
}

}  // namespace
}  // namespace tnet::testcontrol

int main(int argc, char** argv) {
  tnet::testcontrol::Flags flags;
  CLI::App app{"testcontrol: a Tailscale-protocol control server for tests (docs/testcontrol.md)"};
  app.add_option("--listen", flags.listen, "ip:port to listen on (IPv6 as [::1]:0)");
  app.add_option("--derp-url", flags.derpUrl, "the test DERP server, e.g. http://127.0.0.1:3340");
  app.add_option("--derp-stun-port", flags.derpStunPort, "its STUN port (-1 = none)")
      ->check(CLI::Range(-1, 65535));
  app.add_option("--port-file", flags.portFile,
                 "write the listening port (\"<port>\\n\") to this file once ready");
  app.add_option("--state", flags.state,
                 "none (memory only) or a file that keeps the control key and the tailnet across restarts");
  app.add_option("--domain", flags.domain, "tailnet name and MagicDNS suffix");
  app.add_option("--server-url", flags.serverUrl,
                 "the URL clients use for this server, in AuthURLs (default http://<listen ip>:<port>)");
  app.add_flag("--require-machine-auth", flags.requireMachineAuth,
               "new nodes wait for POST /admin/nodes/<id>/approve (NeedsMachineAuth)");
  app.add_option("--keepalive-seconds", flags.keepAliveSeconds, "keep-alive interval on quiet map streams")
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("--synthetic-peers", flags.syntheticPeers, "start with N synthetic peers (benchmarks)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--log-level", flags.logLevel, "0 info, 1 debug, 2 trace")->check(CLI::Range(0, 2));
  CLI11_PARSE(app, argc, argv);
  try {
    return tnet::testcontrol::run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "testcontrol: %s\n", e.what());
    return 1;
  }
}
