#include "tests/integration/magicsock/magicsock_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "libs/wire/derp.h"
#include "libs/wire/derp_info.h"
#include "schemas/common.capnp.h"
#include "schemas/controld.capnp.h"
#include "schemas/magicsockd.capnp.h"
#include "schemas/netmap.capnp.h"
#include "schemas/wgd.capnp.h"

extern char** environ;

namespace tnet::magicsocktest {

std::chrono::milliseconds scaled(std::chrono::milliseconds d) {
  const char* s = std::getenv("TAILNETD_TEST_TIME_SCALE");
  double v = s ? std::atof(s) : 1.0;
  if (v <= 0) v = 1.0;
  return std::chrono::milliseconds(int64_t(double(d.count()) * v));
}

bool runUntil(bus::Loop& loop, const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + scaled(timeout);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    loop.runFor(std::chrono::milliseconds(5));
  }
  return true;
}

std::string binDir() {
  if (const char* b = std::getenv("TNET_BINARY_DIR")) return std::string(b) + "/bin";
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
}

Bytes fakeTransport(uint32_t tag) {
  Bytes b(64, 0);
  b[0] = 4;
  putU32LE(b.data() + 8, tag);
  return b;
}

uint32_t transportTag(ByteSpan d) {
  return d.size() >= 12 ? getU32LE(d.data() + 8) : 0;
}

Node::Node(bus::Loop& loop, std::string name, std::string netns)
    : loop_(loop), name_(std::move(name)), netns_(std::move(netns)), nodeKey_(key::NodePrivate::generate()) {}

Node::~Node() {
  kill();
  toMagicsock_.reset();
  fromMagicsock_.reset();
  op_.reset();
  wgd_.reset();
  if (!runtimeDir_.empty()) std::filesystem::remove_all(runtimeDir_);
  if (!stateDir_.empty()) std::filesystem::remove_all(stateDir_);
}

void Node::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    bool exited = false;
    for (int i = 0; i < 200 && !exited; ++i) {
      exited = waitpid(pid_, nullptr, WNOHANG) == pid_;
      if (!exited) usleep(10000);
    }
    // Whatever is left of the group (a wrapper's traced child), and the process if it hung.
    ::kill(-pid_, SIGKILL);
    if (!exited) waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

bool Node::alive() {
  return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0;
}

std::string Node::log() const {
  std::ifstream in(logPath_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Node::derpConnected(int region) const {
  auto it = derpConnected_.find(region);
  return it != derpConnected_.end() && it->second;
}

std::optional<PathView> Node::pathTo(const key::NodePublic& peer) const {
  auto it = paths_.find(peer.toString());
  if (it == paths_.end()) return std::nullopt;
  return it->second;
}

void Node::publishNodeKey() {
  wgd_->publish("wgd.nodekey", [&](capnp::AnyPointer::Builder b) {
    auto s = b.initAs<schema::NodeKeyState>();
    s.setCurrent(nodeKey_.publicKey().toString());
    s.setCommits(commits_);
  });
}

void Node::rotateNodeKey() {
  nodeKey_ = key::NodePrivate::generate();
  ++commits_;
  publishNodeKey();
}

Result<void> Node::start(const std::map<std::string, std::string>& extraEnv) {
  char rt[] = "/tmp/msc-rt-XXXXXX";
  char st[] = "/tmp/msc-st-XXXXXX";
  if (!mkdtemp(rt) || !mkdtemp(st)) return Error::failed("mkdtemp");
  runtimeDir_ = rt;
  stateDir_ = st;
  logPath_ = stateDir_ + "/magicsockd.log";

  TNET_TRY(wgd_, bus::Bus::create(loop_, bus::BusOptions{runtimeDir_, "wgd"}));
  wgd_->serve("wgd.derpClientInfo", [this](bus::Request req) {
    ++sealCalls_;
    auto p = req.params<schema::DerpClientInfoParams>();
    auto server =
        derp::NodePublic::fromBytes(ByteSpan(p.getServerPublic().begin(), p.getServerPublic().size()));
    if (!server) return req.fail(Error::invalid("serverPublic must be 32 bytes"));
    Bytes out;
    if (!derp::appendClientInfo(out, derp::ClientInfo{.version = 2, .canAckPings = true}, nodeKey_,
                                *server)) {
      return req.fail(Error::failed("seal failed"));
    }
    auto pub = nodeKey_.publicKey().toString();
    req.reply([&](capnp::AnyPointer::Builder b) {
      auto r = b.initAs<schema::DerpClientInfoReply>();
      r.setFrame(
          capnp::Data::Reader(out.data() + derp::FRAME_HEADER_LEN, out.size() - derp::FRAME_HEADER_LEN));
      r.setNodePublic(pub);
    });
  });
  publishNodeKey();
  auto backend = bus::defaultPipeBackend();
  TNET_TRY(fromMagicsock_, bus::openPipeReceiver(*wgd_, backend, "magicsockd",
                                                 [this](std::span<const std::span<const uint8_t>> pkts) {
                                                   for (auto p : pkts) {
                                                     if (p.size() < 51) continue;
                                                     ++receivedCount_;
                                                     if (!storeReceived_) continue;
                                                     Received r;
                                                     r.peer = *key::NodePublic::fromBytes(p.first(32));
                                                     r.path = p[32];
                                                     if (r.path == 1) {
                                                       r.source = std::to_string(getU16BE(p.data() + 49));
                                                     } else {
                                                       wire::IpPort ipp;
                                                       std::copy(p.begin() + 33, p.begin() + 49,
                                                                 ipp.ip16.begin());
                                                       ipp.port = getU16BE(p.data() + 49);
                                                       r.source = ipp.toString();
                                                     }
                                                     r.datagram.assign(p.begin() + 51, p.end());
                                                     received_.push_back(std::move(r));
                                                   }
                                                 }));
  TNET_TRY(toMagicsock_, bus::openPipeSender(*wgd_, backend, "magicsockd"));
  TNET_TRY(op_, bus::Bus::create(loop_, bus::BusOptions{runtimeDir_, "operator"}));
  op_->subscribe("magicsockd.discokey",
                 [this](const bus::Event& ev) { disco_ = ev.as<schema::DiscoKey>().getDiscoPublic(); });
  op_->subscribe("magicsockd.derp", [this](const bus::Event& ev) {
    auto s = ev.as<schema::DerpState>();
    endpoints_.clear();
    for (auto e : s.getEndpoints()) endpoints_.push_back(e.getAddr());
    localPort_ = s.getLocalPort();
    home_ = s.getHomeRegion();
    derpConnected_.clear();
    for (auto c : s.getConns()) derpConnected_[c.getRegionId()] = c.getConnected();
  });
  op_->subscribe("magicsockd.paths", [this](const bus::Event& ev) {
    ++pathEvents_;
    paths_.clear();
    for (auto p : ev.as<schema::Paths>().getPeers()) {
      paths_[p.getNodePublic()] = PathView{p.getCurAddr(), p.getRelayRegion(), p.getLastPongRttNs()};
    }
  });

  std::vector<std::string> args;
  if (!netns_.empty()) args = {"/usr/sbin/ip", "netns", "exec", netns_};
  args.insert(args.end(), wrapper_.begin(), wrapper_.end());
  args.push_back(binDir() + "/magicsockd");
  for (const char* a : {"--runtime-dir", runtimeDir_.c_str(), "--state-dir", stateDir_.c_str(), "--port", "0",
                        "--log-level", "1"}) {
    args.emplace_back(a);
  }
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  env["TS_DEBUG_OMIT_LOCAL_ADDRS"] = "1";
  env["TS_DEBUG_USE_DERP_HTTP"] = "1";
  env.erase("NOTIFY_SOCKET");
  for (const auto& [k, v] : extraEnv) env[k] = v;
  std::vector<std::string> envStr;
  for (const auto& [k, v] : env) envStr.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envStr) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, logPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  // Its own process group, so kill() also reaches magicsockd behind a wrapper (strace -f, which
  // detaches and exits on SIGTERM and would otherwise leave magicsockd running).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  int rc = posix_spawn(&pid_, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Error::failed("spawn magicsockd failed");
  if (!runUntil(
          loop_, [&] { return !disco_.empty() && localPort_ != 0; }, std::chrono::seconds(10))) {
    return Error::failed("magicsockd did not publish its disco key; log:\n" + log());
  }
  return {};
}

Result<void> Node::setConfig(const std::vector<DerpTarget>& regions, const std::vector<PeerSpec>& peers,
                             bool wantRunning) {
  std::optional<Result<void>> result;
  ++generation_;
  op_->call(
      "magicsockd", "magicsockd.setConfig",
      [&](capnp::AnyPointer::Builder b) {
        auto c = b.initAs<schema::MagicsockConfig>();
        c.initGeneration().setN(generation_);
        c.setWantRunning(wantRunning);
        auto rl = c.initDerpMap().initRegions(unsigned(regions.size()));
        for (unsigned i = 0; i < regions.size(); ++i) {
          const auto& derp = regions[i];
          auto region = rl[i];
          region.setRegionId(derp.regionId);
          region.setRegionCode(derp.regionId == 1 ? "test" : "test" + std::to_string(derp.regionId));
          region.setRegionName("Test");
          region.setNoMeasureNoHome(derp.noMeasureNoHome);
          auto node = region.initNodes(1)[0];
          node.setName(std::to_string(derp.regionId) + "a");
          node.setRegionId(derp.regionId);
          if (derp.hostName.empty() && derp.ip.find(':') != std::string::npos) {
            node.setHostName("derp.test");  // never resolved: the literal wins
            node.setIpv4("none");
            node.setIpv6(derp.ip);
          } else if (derp.hostName.empty()) {
            node.setHostName(derp.ip);
            node.setIpv4(derp.ip);
            node.setIpv6("none");
          } else {
            node.setHostName(derp.hostName);
          }
          node.setDerpPort(derp.derpPort);
          node.setStunPort(derp.stunPort);
        }
        auto list = c.initPeers(unsigned(peers.size()));
        for (unsigned i = 0; i < peers.size(); ++i) {
          list[i].setNodePublic(peers[i].node.toString());
          list[i].setDiscoPublic(peers[i].disco);
          list[i].setHomeDerp(peers[i].homeDerp);
          auto eps = list[i].initEndpoints(unsigned(peers[i].endpoints.size()));
          for (unsigned k = 0; k < peers[i].endpoints.size(); ++k) eps.set(k, peers[i].endpoints[k]);
        }
      },
      std::chrono::seconds(5),
      [&](Result<bus::Reply> r) {
        if (!r) {
          result = Result<void>(r.error());
        } else {
          result = Result<void>();
        }
      });
  runUntil(
      loop_, [&] { return result.has_value(); }, std::chrono::seconds(6));
  if (!result) return Error::failed("setConfig: no reply");
  return *result;
}

Result<Node::Netcheck> Node::netcheck() {
  std::optional<Result<Netcheck>> result;
  op_->call(
      "magicsockd", "magicsockd.netcheck", [](capnp::AnyPointer::Builder b) { b.initAs<schema::Empty>(); },
      std::chrono::seconds(8),
      [&](Result<bus::Reply> r) {
        if (!r) {
          result = Result<Netcheck>(r.error());
          return;
        }
        auto rep = r->as<schema::NetcheckReport>();
        Netcheck n;
        n.udp = rep.getUdp();
        n.globalV4 = rep.getGlobalV4();
        n.preferredDerp = rep.getPreferredDerp();
        for (auto l : rep.getRegionLatency()) n.latencyNs[l.getRegionId()] = l.getLatencyNs();
        result = n;
      });
  runUntil(
      loop_, [&] { return result.has_value(); }, std::chrono::seconds(10));
  if (!result) return Error::failed("netcheck: no reply");
  return *result;
}

Result<Node::Ping> Node::ping(const key::NodePublic& peer) {
  std::optional<Result<Ping>> result;
  op_->call(
      "magicsockd", "magicsockd.ping",
      [&](capnp::AnyPointer::Builder b) {
        auto p = b.initAs<schema::PingParams>();
        p.setNodePublic(peer.toString());
        p.setIp("100.64.0.2");
      },
      std::chrono::seconds(8),
      [&](Result<bus::Reply> r) {
        if (!r) {
          result = Result<Ping>(r.error());
          return;
        }
        auto rep = r->as<schema::PingReply>();
        result = Ping{rep.getErr(), rep.getLatencyNs(), rep.getEndpoint(), rep.getDerpRegionId(),
                      rep.getDerpRegionCode()};
      });
  runUntil(
      loop_, [&] { return result.has_value(); }, std::chrono::seconds(10));
  if (!result) return Error::failed("ping: no reply");
  return *result;
}

void Node::sendData(const key::NodePublic& peer, ByteSpan datagram, bool flush) {
  Bytes pkt(peer.raw().begin(), peer.raw().end());
  pkt.insert(pkt.end(), datagram.begin(), datagram.end());
  toMagicsock_->push(pkt);
  if (flush) toMagicsock_->flush();
}

void Node::flush() {
  toMagicsock_->flush();
}

}  // namespace tnet::magicsocktest
