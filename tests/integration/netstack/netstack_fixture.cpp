#include "tests/integration/netstack/netstack_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "libs/base/bytes.h"
#include "schemas/common.capnp.h"
#include "schemas/netstackd.capnp.h"
#include "services/netstackd/core/filter.h"

extern char** environ;

namespace tnet::netstack::testing {

using namespace std::chrono_literals;

namespace {

std::string netstackdBinary() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "netstackd").string();
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& outPath, bool stderrToo) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (stderrToo) posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// netstackd now resolves names outside MagicDNS with the OS resolver (Go's userspace mode). So
// that no test query leaves the machine, each netstackd runs in its own mount namespace where
// /etc/resolv.conf names 127.0.0.2, where nothing listens (lookups fail at once; /etc/hosts
// still answers "localhost"). Root uses a plain mount namespace, others a user namespace; if
// neither is possible the prefix is empty and tests skip what would query DNS.
std::vector<std::string> hermeticResolverPrefix(const std::string& dir) {
  std::string conf = dir + "/resolv.conf";
  {
    std::ofstream f(conf);
    f << "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n";
  }
  std::vector<std::string> script = {"--mount", "--propagation", "private", "--", "sh", "-c",
                                     "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"", conf};
  auto withUnshare = [&](std::vector<std::string> head) {
    head.insert(head.end(), script.begin(), script.end());
    return head;
  };
  if (geteuid() == 0) return withUnshare({"unshare"});
  static const bool userNs = [] {
    int rc = std::system("unshare --map-root-user --mount true >/dev/null 2>&1");
    return rc == 0;
  }();
  if (userNs) return withUnshare({"unshare", "--map-root-user"});
  return {};
}

uint16_t checksum(std::span<const uint8_t> data, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < data.size(); i += 2) sum += getU16BE(&data[i]);
  if (data.size() & 1) sum += uint32_t(data.back()) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

uint32_t pseudoSum(const Addr& src, const Addr& dst, uint8_t proto, size_t len) {
  uint32_t sum = 0;
  for (int i = 0; i < 4; i += 2) sum += getU16BE(&src.bytes[i]) + getU16BE(&dst.bytes[i]);
  return sum + proto + uint32_t(len);
}

}  // namespace

uint16_t freeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// ---- HttpServer ----
HttpServer::HttpServer(std::string body, size_t bigSize) : body_(std::move(body)), bigSize_(bigSize) {
  listenFd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(listenFd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(listenFd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  ::listen(listenFd_, 512);
  acceptor_ = std::thread([this] {
    while (!stop_) {
      int fd = accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stop_) break;
        continue;
      }
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

HttpServer::~HttpServer() {
  stop_ = true;
  shutdown(listenFd_, SHUT_RDWR);
  acceptor_.join();
  close(listenFd_);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    // Connections a test left half-open (a SYN nobody completed) must not hold the test up.
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    workers = std::move(workers_);
  }
  for (auto& t : workers) t.join();
}

void HttpServer::serve(int fd) {
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
      std::lock_guard lock(mu_);
      fds_.erase(std::find(fds_.begin(), fds_.end(), fd));
      close(fd);
      return;
    }
    head.append(buf, size_t(n));
  }
  bool big = head.starts_with("GET /big ");
  std::string resp = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(big ? bigSize_ : body_.size()) + "\r\n\r\n";
  auto sendAll = [&](const uint8_t* p, size_t len) {
    while (len > 0) {
      ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
      if (n <= 0) return false;
      p += n;
      len -= size_t(n);
    }
    return true;
  };
  bool ok = sendAll(reinterpret_cast<const uint8_t*>(resp.data()), resp.size());
  if (ok && !big) ok = sendAll(reinterpret_cast<const uint8_t*>(body_.data()), body_.size());
  std::vector<uint8_t> chunk(65536);
  for (size_t off = 0; ok && big && off < bigSize_; off += chunk.size()) {
    size_t n = std::min(chunk.size(), bigSize_ - off);
    for (size_t i = 0; i < n; ++i) chunk[i] = bigByte(off + i);
    ok = sendAll(chunk.data(), n);
  }
  if (ok) ++served_;
  shutdown(fd, SHUT_WR);
  while (read(fd, buf, sizeof buf) > 0) {
  }
  std::lock_guard lock(mu_);
  fds_.erase(std::find(fds_.begin(), fds_.end(), fd));
  close(fd);
}

// ---- UdpEcho ----
UdpEcho::UdpEcho() {
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  timeval tv{0, 100000};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  thread_ = std::thread([this] {
    char buf[2048];
    while (!stop_) {
      sockaddr_storage from{};
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n < 0) continue;
      ++received_;
      sendto(fd_, buf, size_t(n), 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  });
}

UdpEcho::~UdpEcho() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

// ---- Node ----
Node::Node(bus::Loop& l, std::string n, std::string a4, std::string a6)
    : name(std::move(n)), addr4(std::move(a4)), addr6(std::move(a6)), loop(l) {}

Node::~Node() {
  kill();
}

void Node::kill() {
  if (pid > 0) {
    ::kill(pid, SIGTERM);
    int status = 0;
    bool exited = false;
    for (int i = 0; i < 500 && !exited; ++i) {
      exited = waitpid(pid, &status, WNOHANG) == pid;
      if (!exited) usleep(10000);
    }
    if (!exited) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid = -1;
  }
}

bool Node::start() {
  auto b = bus::Bus::create(loop, bus::BusOptions{runtime.path(), "operator"});
  if (!b) return false;
  bus = std::move(*b);
  mkdir((runtime.path() + "/wgd").c_str(), 0700);
  auto rx = bus::openPipeReceiverAs(*bus, bus::defaultPipeBackend(), "wgd", "netstackd",
                                    [this](std::span<const std::span<const uint8_t>> batch) {
                                      if (onBatch) onBatch(batch);
                                    });
  if (!rx) return false;
  fromNode = std::move(*rx);
  auto tx = bus::openPipeSenderAs(*bus, bus::defaultPipeBackend(), "wgd", "netstackd");
  if (!tx) return false;
  toNode = std::move(*tx);
  socksPort = freeTcpPort();
  httpPort = freeTcpPort();
  logPath = state.path() + "/netstackd.log";
  std::vector<std::string> argv = hermeticResolverPrefix(state.path());
  hermeticDns = !argv.empty();
  for (std::string a : {netstackdBinary(), std::string("--runtime-dir"), runtime.path(), std::string("--state-dir"),
                        state.path(), std::string("--log-level"), std::string("1"), std::string("--socks5-server"),
                        "127.0.0.1:" + std::to_string(socksPort), std::string("--outbound-http-proxy-listen"),
                        "127.0.0.1:" + std::to_string(httpPort)})
    argv.push_back(a);
  pid = spawn(argv, logPath, true);
  if (pid < 0) return false;
  // Ready once sys.health answers.
  auto deadline = std::chrono::steady_clock::now() + bus::testing::scaled(10s);
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<bool> ok;
    bus->call(
        "netstackd", "sys.health", [](auto p) { p.template initAs<schema::Empty>(); }, 500ms,
        [&](Result<bus::Reply> r) { ok = r.has_value(); });
    bus::testing::runUntil(
        loop, [&] { return ok.has_value(); }, 2000ms);
    if (ok && *ok) return true;
    loop.runFor(50ms);
  }
  return false;
}

Result<void> Node::configure(const NodeConfig& cfg, uint64_t n) {
  std::optional<Result<bus::Reply>> reply;
  bus->call(
      "netstackd", "netstackd.setConfig",
      [&](capnp::AnyPointer::Builder b) {
        auto c = b.initAs<schema::NetstackConfig>();
        c.initGeneration().setEpoch(1);
        c.getGeneration().setN(n);
        auto addrs = c.initAddresses(unsigned(cfg.addresses.size()));
        for (unsigned i = 0; i < cfg.addresses.size(); ++i) addrs.set(i, cfg.addresses[i]);
        c.setPacketFilterKnown(cfg.filterKnown);
        size_t nRules = cfg.allowAll ? 1 : cfg.rules.size();
        auto rules = c.initPacketFilter(unsigned(nRules));
        for (unsigned i = 0; i < nRules; ++i) {
          NodeConfig::Rule r = cfg.allowAll ? NodeConfig::Rule{{"*"}, "*", 0, 65535} : cfg.rules[i];
          auto srcs = rules[i].initSrcIps(unsigned(r.srcs.size()));
          for (unsigned j = 0; j < r.srcs.size(); ++j) srcs.set(j, r.srcs[j]);
          auto d = rules[i].initDstPorts(1)[0];
          d.setIp(r.dst);
          d.setBits(-1);
          d.setFirst(r.first);
          d.setLast(r.last);
        }
        c.setShieldsUp(cfg.shieldsUp);
        c.setMagicDnsSuffix("tail.ts.net");
        auto names = c.initDnsNames(unsigned(cfg.names.size()));
        for (unsigned i = 0; i < cfg.names.size(); ++i) {
          names[i].setName(cfg.names[i].first);
          auto as = names[i].initAddresses(unsigned(cfg.names[i].second.size()));
          for (unsigned j = 0; j < cfg.names[i].second.size(); ++j) as.set(j, cfg.names[i].second[j]);
        }
      },
      3000ms, [&](Result<bus::Reply> r) { reply = std::move(r); });
  if (!bus::testing::runUntil(
          loop, [&] { return reply.has_value(); }, 5000ms))
    return Error::failed("setConfig: no reply");
  if (!*reply) return reply->error();
  auto ack = reply->value().as<schema::ConfigAck>();
  if (ack.getApplied().getN() != n) return Error::failed("setConfig: ack for another generation");
  return {};
}

bool Pair::pipesUp(Node& n) {
  const Addr probe = Addr::v4(100, 64, 0, 250);
  bool seen = false;
  auto saved = intercept;
  intercept = [&](const Node& from, std::span<const uint8_t> p) {
    PacketInfo info;
    if (&from == &n && parsePacket(p, info) == ParseStatus::OK && info.dst == probe && info.isEchoReply()) {
      seen = true;
      return true;
    }
    return saved ? saved(from, p) : false;
  };
  auto self = parseAddr(n.addr4);
  for (uint16_t seq = 1; seq <= 50 && !seen; ++seq) {
    inject(n, icmpEcho(probe, *self, 4242, seq));
    bus::testing::runUntil(
        loop, [&] { return seen; }, 100ms);
  }
  intercept = saved;
  return seen;
}

// ---- Pair ----
Pair::Pair()
    : a(loop, "A", "100.64.0.1", "fd7a:115c:a1e0::1"), b(loop, "B", "100.64.0.2", "fd7a:115c:a1e0::2") {}

bool Pair::start() {
  a.onBatch = [this](std::span<const std::span<const uint8_t>> batch) { relay(a, b, batch); };
  b.onBatch = [this](std::span<const std::span<const uint8_t>> batch) { relay(b, a, batch); };
  return a.start() && b.start();
}

void Pair::relay(Node& from, Node& to, std::span<const std::span<const uint8_t>> batch) {
  for (auto p : batch) {
    if (intercept && intercept(from, p)) continue;
    PacketInfo info;
    if (parsePacket(p, info) != ParseStatus::OK) continue;
    std::string dst = info.dst.toString();
    auto want6 = parseAddr(to.addr6);
    bool forTo = dst == to.addr4 || (want6 && info.dst == *want6);
    if (!forTo) continue;
    ++relayed;
    to.toNode->push(p);
  }
  to.toNode->flush();
}

void Pair::inject(Node& to, std::span<const uint8_t> packet) {
  to.toNode->push(packet);
  to.toNode->flush();
}

std::pair<int, std::string> Pair::run(const std::vector<std::string>& argv,
                                      std::chrono::milliseconds timeout) {
  std::string out = a.state.path() + "/cmd.out";
  pid_t pid = spawn(argv, out, false);
  if (pid < 0) return {-1, ""};
  int status = 0;
  bool done = bus::testing::runUntil(
      loop, [&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  if (!done) {
    ::kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return {-2, ""};
  }
  std::ifstream f(out, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

// ---- packets ----
std::vector<uint8_t> ipv4Packet(const Addr& src, const Addr& dst, uint8_t proto,
                                std::vector<uint8_t> transport) {
  std::vector<uint8_t> p(20 + transport.size());
  p[0] = 0x45;
  putU16BE(&p[2], uint16_t(20 + transport.size()));
  putU16BE(&p[4], 0x1234);
  p[8] = 64;
  p[9] = proto;
  std::memcpy(p.data() + 12, src.bytes.data(), 4);
  std::memcpy(p.data() + 16, dst.bytes.data(), 4);
  putU16BE(&p[10], checksum({p.data(), 20}));
  if (!transport.empty()) std::memcpy(p.data() + 20, transport.data(), transport.size());
  return p;
}

std::vector<uint8_t> icmpEcho(const Addr& src, const Addr& dst, uint16_t id, uint16_t seq) {
  std::vector<uint8_t> t{8, 0, 0, 0, 0, 0, 0, 0, 'p', 'i', 'n', 'g'};
  putU16BE(&t[4], id);
  putU16BE(&t[6], seq);
  putU16BE(&t[2], checksum(t));
  return ipv4Packet(src, dst, PROTO_ICMP4, t);
}

std::vector<uint8_t> udpPacket(const Addr& src, const Addr& dst, uint16_t sport, uint16_t dport,
                               std::span<const uint8_t> payload) {
  std::vector<uint8_t> t(8);
  putU16BE(&t[0], sport);
  putU16BE(&t[2], dport);
  putU16BE(&t[4], uint16_t(8 + payload.size()));
  t.insert(t.end(), payload.begin(), payload.end());
  uint16_t c = checksum(t, pseudoSum(src, dst, PROTO_UDP, t.size()));
  putU16BE(&t[6], c == 0 ? 0xffff : c);
  return ipv4Packet(src, dst, PROTO_UDP, t);
}

std::vector<uint8_t> udpPacket6(const Addr& src, const Addr& dst, uint16_t sport, uint16_t dport,
                                std::span<const uint8_t> payload) {
  std::vector<uint8_t> p(40 + 8 + payload.size(), 0);
  p[0] = 0x60;
  putU16BE(&p[4], uint16_t(8 + payload.size()));
  p[6] = PROTO_UDP;
  p[7] = 64;
  std::memcpy(&p[8], src.bytes.data(), 16);
  std::memcpy(&p[24], dst.bytes.data(), 16);
  putU16BE(&p[40], sport);
  putU16BE(&p[42], dport);
  putU16BE(&p[44], uint16_t(8 + payload.size()));
  if (!payload.empty()) std::memcpy(&p[48], payload.data(), payload.size());
  uint32_t sum = 0;
  for (size_t i = 8; i < 40; i += 2) sum += getU16BE(&p[i]);
  sum += PROTO_UDP + uint32_t(8 + payload.size());
  uint16_t c = checksum({p.data() + 40, p.size() - 40}, sum);
  putU16BE(&p[46], c == 0 ? 0xffff : c);
  return p;
}

std::vector<uint8_t> tcpSyn(const Addr& src, const Addr& dst, uint16_t sport, uint16_t dport, uint32_t seq) {
  std::vector<uint8_t> t(20);
  putU16BE(&t[0], sport);
  putU16BE(&t[2], dport);
  putU32BE(&t[4], seq);
  t[12] = 0x50;
  t[13] = TCP_SYN;
  putU16BE(&t[14], 65535);
  putU16BE(&t[16], checksum(t, pseudoSum(src, dst, PROTO_TCP, t.size())));
  return ipv4Packet(src, dst, PROTO_TCP, t);
}

}  // namespace tnet::netstack::testing
