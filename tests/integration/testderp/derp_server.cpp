#include "tests/integration/testderp/derp_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string_view>
#include <thread>
#include <vector>

#include "libs/crypto/crypto.h"
#include "libs/wire/derp.h"
#include "libs/wire/derp_frame_reader.h"
#include "libs/wire/derp_info.h"
#include "libs/wire/disco.h"
#include "libs/wire/stun.h"
#include "tests/integration/testderp/http_head.h"

namespace tnet::testderp {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto HANDSHAKE_TIMEOUT = 10s;     // Go: 10 s per handshake step
constexpr auto WRITE_TIMEOUT = 2s;          // Go's --tcp-write-timeout
constexpr auto KEEP_ALIVE_JITTER_MAX = 5s;  // Go adds up to 5 s per connection
constexpr size_t READ_CHUNK = 64 << 10;

Result<std::pair<sockaddr_storage, socklen_t>> parseHostPort(const std::string& host, uint16_t port) {
  sockaddr_storage ss{};
  std::string h = host;
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return std::pair{ss, socklen_t(sizeof(sockaddr_in))};
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return std::pair{ss, socklen_t(sizeof(sockaddr_in6))};
  }
  return Error::invalid("listen address must be an IP literal: " + host);
}

uint16_t boundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

wire::IpPort toIpPort(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    std::array<uint8_t, 4> b;
    std::memcpy(b.data(), &a->sin_addr, 4);
    return wire::IpPort::v4(b, ntohs(a->sin_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  std::array<uint8_t, 16> b;
  std::memcpy(b.data(), &a->sin6_addr, 16);
  return wire::IpPort::v6(b, ntohs(a->sin6_port));
}

Result<int> bindSocket(const std::string& host, uint16_t port, int type) {
  auto addr = parseHostPort(host, port);
  if (!addr) return addr.error();
  int fd = socket(addr->first.ss_family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::failed(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // restart on the same port
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr->first), addr->second) != 0) {
    int e = errno;
    close(fd);
    return Error::failed("bind " + host + ":" + std::to_string(port) + ": " + std::strerror(e));
  }
  if (type == SOCK_STREAM && listen(fd, 128) != 0) {
    int e = errno;
    close(fd);
    return Error::failed(std::string("listen: ") + std::strerror(e));
  }
  return fd;
}

// Waits until `fd` is readable or `stopFd` fires. false: stop requested or the deadline passed.
bool waitReadable(int fd, int stopFd, int timeoutMs) {
  pollfd p[2] = {{fd, POLLIN, 0}, {stopFd, POLLIN, 0}};
  for (;;) {
    int n = poll(p, 2, timeoutMs);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (p[1].revents) return false;
    return true;
  }
}

int msUntil(Clock::time_point t) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return d < 0 ? 0 : int(std::min<int64_t>(d, 1 << 30));
}

}  // namespace

struct Client {
  int fd = -1;
  std::mutex writeMu;
  bool writeFailed = false;
  key::NodePublic key;
  std::thread thread;
  std::atomic<bool> done{false};
  std::set<key::NodePublic> sentTo;  // owner thread only
  // PeerGone(NotHere) rate limit: 1/s, burst 3 (Go).
  double goneTokens = 3;
  Clock::time_point goneLast = Clock::now();

  // Writes whole frames; a write that cannot finish within WRITE_TIMEOUT kills the connection
  // (the reader thread then sees EOF and cleans up).
  bool write(ByteSpan bytes) {
    std::lock_guard lock(writeMu);
    if (fd < 0 || writeFailed) return false;
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        writeFailed = true;
        shutdown(fd, SHUT_RDWR);
        return false;
      }
      off += size_t(n);
    }
    return true;
  }
};

struct DerpServer::Impl {
  ServerOptions options;
  key::NodePrivate serverKey;
  key::NodePublic serverPub;
  int listenFd = -1;
  int stunFd = -1;
  int stopFd = -1;
  ServerStats stats;
  std::mutex mu;
  std::map<key::NodePublic, std::shared_ptr<Client>> active;  // last connection with a key wins
  std::vector<std::shared_ptr<Client>> clients;
  std::thread acceptThread;
  std::thread stunThread;
  bool stopped = false;

  void acceptLoop();
  void stunLoop();
  void serve(const std::shared_ptr<Client>& c);
  bool handshake(const std::shared_ptr<Client>& c, Bytes& pending, derp::FrameReader& reader);
  bool handleFrame(const std::shared_ptr<Client>& c, const derp::Frame& frame);
  void unregister(const std::shared_ptr<Client>& c);
  std::shared_ptr<Client> lookup(const key::NodePublic& k) {
    std::lock_guard lock(mu);
    auto it = active.find(k);
    return it == active.end() ? nullptr : it->second;
  }
  void reapFinished() {
    std::vector<std::shared_ptr<Client>> finished;
    {
      std::lock_guard lock(mu);
      auto it = std::partition(clients.begin(), clients.end(), [](auto& c) { return !c->done.load(); });
      finished.assign(it, clients.end());
      clients.erase(it, clients.end());
    }
    for (auto& c : finished) {
      if (c->thread.joinable()) c->thread.join();
    }
  }
};

void DerpServer::Impl::acceptLoop() {
  for (;;) {
    if (!waitReadable(listenFd, stopFd, -1)) return;
    int fd = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        std::this_thread::sleep_for(50ms);
        continue;
      }
      return;
    }
    reapFinished();
    stats.accepted++;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{WRITE_TIMEOUT.count(), 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    auto c = std::make_shared<Client>();
    c->fd = fd;
    std::lock_guard lock(mu);
    if (stopped) {
      close(fd);
      return;
    }
    clients.push_back(c);
    c->thread = std::thread([this, c] {
      serve(c);
      {
        std::lock_guard wl(c->writeMu);
        close(c->fd);
        c->fd = -1;
      }
      c->done = true;
    });
  }
}

void DerpServer::Impl::stunLoop() {
  uint8_t buf[2048];
  for (;;) {
    if (!waitReadable(stunFd, stopFd, -1)) return;
    for (;;) {
      sockaddr_storage from{};
      socklen_t fromLen = sizeof from;
      ssize_t n =
          recvfrom(stunFd, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &fromLen);
      if (n < 0) break;
      auto tx = stun::parseBindingRequest(ByteSpan(buf, size_t(n)));
      if (!tx) {
        stats.stunDropped++;
        continue;
      }
      stats.stunRequests++;
      std::array<uint8_t, stun::MAX_RESPONSE_LEN> out;
      size_t len = stun::writeBindingResponse(out, *tx, toIpPort(from));
      sendto(stunFd, out.data(), len, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), fromLen);
    }
  }
}

bool DerpServer::Impl::handshake(const std::shared_ptr<Client>& c, Bytes& pending,
                                 derp::FrameReader& reader) {
  auto deadline = Clock::now() + HANDSHAKE_TIMEOUT;
  // HTTP request head.
  std::string head;
  std::vector<uint8_t> buf(READ_CHUNK);
  size_t headEnd = std::string::npos;
  while (headEnd == std::string::npos) {
    if (head.size() > MAX_HEAD_BYTES) return false;
    if (!waitReadable(c->fd, stopFd, msUntil(deadline))) return false;
    ssize_t n = recv(c->fd, buf.data(), buf.size(), 0);
    if (n <= 0) return false;
    head.append(reinterpret_cast<const char*>(buf.data()), size_t(n));
    headEnd = head.find("\r\n\r\n");
  }
  pending.assign(head.begin() + long(headEnd + 4), head.end());
  head.resize(headEnd + 4);
  auto req = parseRequestHead(head);
  if (!req) {
    stats.httpOther++;
    c->write(asBytes(httpResponse(400, "Bad Request", {}, "bad request\n")));
    return false;
  }
  if (req->path != "/derp") {
    stats.httpOther++;
    std::string resp;
    if (req->path == "/derp/probe" || req->path == "/derp/latency-check") {
      resp = httpResponse(200, "OK", {{"Access-Control-Allow-Origin", "*"}}, "");
    } else if (req->path == "/generate_204") {
      std::vector<std::pair<std::string, std::string>> hdrs;
      if (auto ch = req->header("x-tailscale-challenge"); ch && validChallenge(*ch)) {
        hdrs.emplace_back("X-Tailscale-Response", "response " + *ch);
      }
      resp = httpResponse(204, "No Content", hdrs, "");
    } else {
      resp = httpResponse(404, "Not Found", {}, "not found\n");
    }
    c->write(asBytes(resp));
    return false;
  }
  auto upgrade = req->header("upgrade");
  if (!upgrade || !equalsIgnoreCase(*upgrade, "derp")) {
    // Go also accepts "websocket"; testderp speaks only the plain upgrade.
    stats.httpOther++;
    c->write(asBytes(httpResponse(426, "Upgrade Required", {}, "DERP requires connection upgrade")));
    return false;
  }
  bool fastStart = req->header("derp-fast-start").value_or("") == "1";
  Bytes out;
  if (!fastStart) {
    std::string r =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n"
        "Derp-Version: " +
        std::to_string(derp::PROTOCOL_VERSION) + "\r\nDerp-Public-Key: " + serverPub.untypedHex() +
        "\r\n\r\n";
    out.assign(r.begin(), r.end());
  }
  derp::appendServerKey(out, serverPub);
  if (!c->write(out)) return false;

  // ClientInfo: the first frame.
  std::optional<derp::Frame> first;
  Bytes held;  // the frame's bytes, when it came out of `pending`
  for (;;) {
    ByteSpan in(pending);
    auto f = reader.next(in);
    if (!f) return false;
    if (*f) {
      held.assign((*f)->payload.begin(), (*f)->payload.end());
      first = derp::Frame{(*f)->type, ByteSpan(held)};
      pending.erase(pending.begin(), pending.begin() + long(pending.size() - in.size()));
      break;
    }
    pending.clear();
    if (!waitReadable(c->fd, stopFd, msUntil(deadline))) return false;
    ssize_t n = recv(c->fd, buf.data(), buf.size(), 0);
    if (n <= 0) return false;
    pending.assign(buf.begin(), buf.begin() + n);
  }
  if (first->type != derp::FrameType::CLIENT_INFO) return false;
  auto opened = derp::openClientInfo(*first, serverKey);
  if (!opened) return false;
  c->key = opened->clientKey;
  Bytes info;
  if (!derp::appendServerInfo(info, derp::ServerInfo{.version = derp::PROTOCOL_VERSION}, serverKey, c->key)) {
    return false;
  }
  {
    std::lock_guard lock(mu);
    active[c->key] = c;
    stats.clients = active.size();
  }
  stats.handshakes++;  // counted before the client can see ServerInfo
  return c->write(info);
}

bool DerpServer::Impl::handleFrame(const std::shared_ptr<Client>& c, const derp::Frame& frame) {
  auto msg = derp::decodeClientFrame(frame);
  if (!msg) return false;
  if (auto* sp = std::get_if<derp::SendPacket>(&*msg)) {
    auto dst = lookup(sp->dst);
    if (!dst) {
      stats.droppedNoPeer++;
      if (disco::looksLikeDiscoWrapper(sp->data)) {
        auto now = Clock::now();
        c->goneTokens =
            std::min(3.0, c->goneTokens + std::chrono::duration<double>(now - c->goneLast).count());
        c->goneLast = now;
        if (c->goneTokens >= 1) {
          c->goneTokens -= 1;
          Bytes out;
          derp::appendPeerGone(out, sp->dst, derp::PeerGoneReason::NOT_HERE);
          stats.peerGoneSent++;
          return c->write(out);
        }
      }
      return true;
    }
    Bytes out;
    if (!derp::appendRecvPacket(out, c->key, sp->data)) return false;
    stats.forwarded++;  // counted before the receiver can see it
    if (!dst->write(out)) stats.forwardFailed++;
    c->sentTo.insert(sp->dst);
    return true;
  }
  if (auto* p = std::get_if<derp::Ping>(&*msg)) {
    stats.pings++;
    Bytes out;
    derp::appendPong(out, p->data);
    return c->write(out);
  }
  if (auto* np = std::get_if<derp::NotePreferred>(&*msg)) {
    if (np->preferred) stats.notePreferredTrue++;
    return true;
  }
  if (std::holds_alternative<derp::UnknownFrame>(*msg)) {
    return true;
  }
  return false;  // ForwardPacket, WatchConns, ClosePeer: mesh frames without a mesh key
}

void DerpServer::Impl::unregister(const std::shared_ptr<Client>& c) {
  std::vector<std::shared_ptr<Client>> notify;
  {
    std::lock_guard lock(mu);
    auto it = active.find(c->key);
    if (it == active.end() || it->second != c) return;
    active.erase(it);
    stats.clients = active.size();
    for (const auto& k : c->sentTo) {
      if (auto d = active.find(k); d != active.end()) notify.push_back(d->second);
    }
  }
  for (auto& d : notify) {
    Bytes out;
    derp::appendPeerGone(out, c->key, derp::PeerGoneReason::DISCONNECTED);
    stats.peerGoneSent++;
    d->write(out);
  }
}

void DerpServer::Impl::serve(const std::shared_ptr<Client>& c) {
  derp::FrameReader reader(derp::ReaderRole::SERVER);
  Bytes pending;
  if (!handshake(c, pending, reader)) {
    stats.handshakeFailures++;
    return;
  }
  std::mt19937_64 rng(std::random_device{}());
  auto nextKeepAlive = [&] {
    auto d = Clock::duration(options.keepAlive);
    if (options.keepAliveJitter) {
      d += std::chrono::milliseconds(rng() %
                                     uint64_t(std::chrono::milliseconds(KEEP_ALIVE_JITTER_MAX).count() + 1));
    }
    return Clock::now() + d;
  };
  auto keepAliveAt = nextKeepAlive();
  std::vector<uint8_t> buf(READ_CHUNK);
  bool ok = true;
  auto consume = [&](ByteSpan in) {
    while (ok) {
      auto f = reader.next(in);
      if (!f) {
        stats.protocolErrors++;
        ok = false;
        return;
      }
      if (!*f) return;
      if (!handleFrame(c, **f)) {
        if (!c->writeFailed) stats.protocolErrors++;
        ok = false;
      }
    }
  };
  consume(ByteSpan(pending));
  while (ok) {
    pollfd p[2] = {{c->fd, POLLIN, 0}, {stopFd, POLLIN, 0}};
    int n = poll(p, 2, msUntil(keepAliveAt));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || p[1].revents) break;
    if (n == 0 || Clock::now() >= keepAliveAt) {
      Bytes out;
      derp::appendKeepAlive(out);
      stats.keepAlives++;
      if (!c->write(out)) break;
      keepAliveAt = nextKeepAlive();
      if (n == 0) continue;
    }
    ssize_t r = recv(c->fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (r <= 0) break;
    consume(ByteSpan(buf.data(), size_t(r)));
  }
  unregister(c);
}

DerpServer::DerpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<DerpServer>> DerpServer::start(ServerOptions options) {
  crypto::init();
  auto impl = std::make_unique<Impl>();
  impl->serverKey = options.serverKey ? options.serverKey->clone() : key::NodePrivate::generate();
  impl->serverPub = impl->serverKey.publicKey();
  impl->options = std::move(options);
  impl->options.serverKey.reset();
  impl->stopFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->stopFd < 0) return Error::failed("eventfd failed");
  auto lfd = bindSocket(impl->options.host, impl->options.port, SOCK_STREAM);
  if (!lfd) {
    close(impl->stopFd);
    return lfd.error();
  }
  impl->listenFd = *lfd;
  if (impl->options.stunPort) {
    auto sfd = bindSocket(impl->options.host, *impl->options.stunPort, SOCK_DGRAM);
    if (!sfd) {
      close(impl->listenFd);
      close(impl->stopFd);
      return sfd.error();
    }
    impl->stunFd = *sfd;
  }
  auto* raw = impl.get();
  raw->acceptThread = std::thread([raw] { raw->acceptLoop(); });
  if (raw->stunFd >= 0) raw->stunThread = std::thread([raw] { raw->stunLoop(); });
  return std::unique_ptr<DerpServer>(new DerpServer(std::move(impl)));
}

DerpServer::~DerpServer() {
  stop();
}

void DerpServer::stop() {
  auto& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    if (m.stopped) return;
    m.stopped = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto w = ::write(m.stopFd, &one, sizeof one);
  if (m.acceptThread.joinable()) m.acceptThread.join();
  if (m.stunThread.joinable()) m.stunThread.join();
  std::vector<std::shared_ptr<Client>> all;
  {
    std::lock_guard lock(m.mu);
    all = m.clients;
    m.clients.clear();
  }
  for (auto& c : all) {
    if (c->thread.joinable()) c->thread.join();
  }
  close(m.listenFd);
  if (m.stunFd >= 0) close(m.stunFd);
  close(m.stopFd);
}

uint16_t DerpServer::port() const {
  return boundPort(impl_->listenFd);
}
uint16_t DerpServer::stunPort() const {
  return impl_->stunFd >= 0 ? boundPort(impl_->stunFd) : 0;
}
key::NodePublic DerpServer::serverPublic() const {
  return impl_->serverPub;
}
const ServerStats& DerpServer::stats() const {
  return impl_->stats;
}

}  // namespace tnet::testderp
