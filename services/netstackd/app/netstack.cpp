#include "services/netstackd/app/netstack.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "libs/ipn/netip.h"
#include "lwip/icmp.h"
#include "lwip/ip.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "services/netstackd/app/os_dial.h"
#include "services/netstackd/core/http_proxy.h"
#include "services/netstackd/core/route.h"
#include "services/netstackd/core/socks5.h"

namespace tnet::netstack {

namespace {

enum ListenKind { KIND_SOCKS = 1, KIND_HTTP = 2, KIND_BOTH = 3 };

// Each direction of an OS-dialled connection holds at most this much in netstackd; the rest
// waits in the kernel's socket buffers (backpressure by not reading).
constexpr size_t SPLICE_CHUNK = 64 * 1024;
// Go's SOCKS5 server gives a dial (resolution included) 5 s; its HTTP proxy sets no deadline.
constexpr std::chrono::seconds SOCKS_DIAL_TIMEOUT{5};

ip_addr_t toLwip(const Addr& a) {
  ip_addr_t r;
  if (a.v6) {
    IP_SET_TYPE_VAL(r, IPADDR_TYPE_V6);
    std::memcpy(ip_2_ip6(&r)->addr, a.bytes.data(), 16);
  } else {
    IP_SET_TYPE_VAL(r, IPADDR_TYPE_V4);
    std::memcpy(&ip_2_ip4(&r)->addr, a.bytes.data(), 4);
  }
  return r;
}

Addr fromLwip(const ip_addr_t* a) {
  Addr r;
  if (IP_IS_V6(a)) {
    r.v6 = true;
    std::memcpy(r.bytes.data(), ip_2_ip6(a)->addr, 16);
  } else {
    std::memcpy(r.bytes.data(), &ip_2_ip4(a)->addr, 4);
  }
  return r;
}

socklen_t toSockaddr(const Addr& a, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    std::memcpy(&s6->sin6_addr, a.bytes.data(), 16);
    return sizeof *s6;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  std::memcpy(&s4->sin_addr, a.bytes.data(), 4);
  return sizeof *s4;
}

bool fromSockaddr(const sockaddr_storage& ss, Addr& a, uint16_t& port) {
  a = Addr{};
  if (ss.ss_family == AF_INET) {
    auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    std::memcpy(a.bytes.data(), &s4->sin_addr, 4);
    port = ntohs(s4->sin_port);
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    a.v6 = true;
    std::memcpy(a.bytes.data(), &s6->sin6_addr, 16);
    port = ntohs(s6->sin6_port);
    return true;
  }
  return false;
}

}  // namespace

// ---- Conn: one local TCP socket bridged to one lwIP TCP connection --------------------------
class Conn {
 public:
  enum class Kind { AUTO, SOCKS5, HTTP, INBOUND };
  enum class Phase {
    GREETING,
    REQUEST,
    HTTP_HEAD,
    CONNECTING,
    RESOLVING,     // the OS resolver has the name
    OS_CONNECTING,  // OsConnector races the addresses
    SPLICE,         // local socket ⇄ OS socket
    LOCAL_DIAL,
    WAIT_ACCEPT,
    BRIDGE,
    UDP_CONTROL,
    DNS_TCP,
    DONE
  };

  Conn(Engine& e, int fd, Kind kind) : e_(e), fd_(fd), kind_(kind) {
    phase_ = kind == Kind::INBOUND ? Phase::LOCAL_DIAL
             : kind == Kind::HTTP  ? Phase::HTTP_HEAD
                                   : Phase::GREETING;
    token_ = e_.poller().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, [this](uint32_t ev) { onFdEvent(ev); });
    if (kind != Kind::INBOUND) {
      // A local client that never completes its request must not hold a connection slot.
      handshakeTimer_ = e_.loop().after(HANDSHAKE_TIMEOUT, [this] {
        if (phase_ == Phase::GREETING || phase_ == Phase::REQUEST || phase_ == Phase::HTTP_HEAD)
          finish(false);
      });
    }
  }
  ~Conn() {
    detachPcb(true);
    osDial_.reset();
    if (osToken_) e_.poller().remove(osToken_);
    if (osFd_ >= 0) close(osFd_);
    if (toLocal_) {
      e_.bufferedBytes() -= toLocal_->tot_len - toLocalOff_;
      pbuf_free(toLocal_);
    }
    if (token_) e_.poller().remove(token_);
    if (fd_ >= 0) close(fd_);
  }

  // Inbound: the SYN that waits for the local dial.
  std::vector<uint8_t> syn;
  bool inboundV6 = false;
  Addr inboundRemote;
  uint16_t inboundRemotePort = 0, inboundLocalPort = 0;
  UdpAssoc* assoc = nullptr;
  bus::Handle acceptTimer;

  void attachAccepted(struct tcp_pcb* pcb) {
    pcb_ = pcb;
    acceptTimer.reset();
    setupPcb();
    phase_ = Phase::BRIDGE;
    pumpToTailnet();
  }

  void fail() { finish(true); }

 private:
  // ---- local socket ----
  void onFdEvent(uint32_t ev) {
    if (phase_ == Phase::DONE) return;
    if (phase_ == Phase::LOCAL_DIAL) {
      if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && !(ev & EPOLLERR)) {
          phase_ = Phase::WAIT_ACCEPT;
          e_.inboundReady(this, syn);
        } else {
          phase_ = Phase::DONE;
          e_.inboundFailed(this, syn);
        }
      }
      return;
    }
    if (phase_ == Phase::SPLICE) return pumpSplice();
    if (ev & EPOLLOUT) flushToLocal();
    if (phase_ == Phase::DONE) return;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) onReadable();
  }

  void onReadable() {
    switch (phase_) {
      case Phase::GREETING:
      case Phase::REQUEST:
      case Phase::HTTP_HEAD:
        readHandshake();
        break;
      case Phase::BRIDGE:
        pumpToTailnet();
        break;
      case Phase::DNS_TCP:
        serveDnsTcp();
        break;
      case Phase::UDP_CONTROL: {
        char buf[512];
        while (true) {
          ssize_t n = read(fd_, buf, sizeof buf);
          if (n > 0) continue;
          if (n < 0 && errno == EAGAIN) break;
          finish(false);  // the association ends with its TCP connection
          break;
        }
        break;
      }
      default:
        break;  // CONNECTING / WAIT_ACCEPT: bytes stay in the socket until the bridge is up
    }
  }

  void readHandshake() {
    uint8_t buf[4096];
    while (phase_ == Phase::GREETING || phase_ == Phase::REQUEST || phase_ == Phase::HTTP_HEAD) {
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return finish(false);
      if (n < 0) return;
      inbuf_.insert(inbuf_.end(), buf, buf + n);
      if (inbuf_.size() > http::MAX_HEAD + 4096) return finish(false);
      if (kind_ == Kind::AUTO) kind_ = inbuf_[0] == socks5::VERSION ? Kind::SOCKS5 : Kind::HTTP;
      if (kind_ == Kind::HTTP) phase_ = Phase::HTTP_HEAD;
      advanceHandshake();
    }
  }

  void writeLocal(const void* data, size_t len) {
    // Handshake replies are small and the socket is fresh: they fit its send buffer.
    [[maybe_unused]] ssize_t n = send(fd_, data, len, MSG_NOSIGNAL);
  }

  void advanceHandshake() {
    while (true) {
      if (phase_ == Phase::GREETING) {
        auto g = socks5::parseGreeting(inbuf_);
        if (g.status == socks5::Status::NEED_MORE) return;
        if (g.status == socks5::Status::FAIL) return finish(false);
        uint8_t reply[2] = {socks5::VERSION,
                            g.noAuthOffered ? socks5::METHOD_NO_AUTH : socks5::METHOD_NONE_ACCEPTABLE};
        writeLocal(reply, 2);
        if (!g.noAuthOffered) return finish(false);
        inbuf_.erase(inbuf_.begin(), inbuf_.begin() + long(g.consumed));
        phase_ = Phase::REQUEST;
        continue;
      }
      if (phase_ == Phase::REQUEST) {
        auto r = socks5::parseRequest(inbuf_);
        if (r.status == socks5::Status::NEED_MORE) return;
        if (r.status == socks5::Status::FAIL) return socksFail(r.failReply);
        inbuf_.erase(inbuf_.begin(), inbuf_.begin() + long(r.consumed));
        if (!e_.hasAddresses()) return socksFail(socks5::REP_NETWORK_UNREACHABLE);
        if (r.command == socks5::CMD_UDP_ASSOCIATE) return startUdpAssociate();
        dialTimer_ = e_.loop().after(SOCKS_DIAL_TIMEOUT, [this] { onDialTimeout(); });
        if (!r.target.isDomain) return connectAddr(r.target.addr, r.target.port);
        return connectName(r.target.domain, r.target.port);
      }
      if (phase_ == Phase::HTTP_HEAD) {
        auto h = http::parseProxyRequest(inbuf_);
        if (h.status == http::Status::NEED_MORE) return;
        if (h.status == http::Status::FAIL) return httpFail(h.failStatus, h.error);
        if (!e_.hasAddresses()) return httpFail(502, "network unreachable");
        inbuf_.erase(inbuf_.begin(), inbuf_.begin() + long(h.headLen));
        if (h.isConnect) {
          httpConnect_ = true;
        } else {
          inbuf_.insert(inbuf_.begin(), h.forwardHead.begin(), h.forwardHead.end());
        }
        return connectName(h.host, h.port);
      }
      return;
    }
  }

  // `why` is the RFC 1928 code for what went wrong; the client gets what Go's server sends: an
  // unknown command is 0x07, every other failure 0x01 (general failure), whatever the cause.
  void socksFail(uint8_t why) {
    uint8_t rep = why == socks5::REP_COMMAND_NOT_SUPPORTED ? why : socks5::REP_GENERAL_FAILURE;
    auto reply = socks5::buildReply(rep, Addr{}, 0);
    writeLocal(reply.data(), reply.size());
    finish(false);
  }

  void httpFail(int status, const std::string& error) {
    auto resp = http::buildResponse(status, error);
    writeLocal(resp.data(), resp.size());
    finish(false);
  }

  void startUdpAssociate();

  // ---- where the target goes: Go's UserDial (MagicDNS, then the OS resolver; node addresses
  // into the netstack, quad-100 in-process, everything else through the OS) ----
  void connectName(std::string host, uint16_t port) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (auto a = parseAddr(host)) return connectAddr(*a, port);
    if (auto a = e_.resolve(host)) return connectAddr(*a, port);  // MagicDNS names from the netmap
    target_ = host;
    targetPort_ = port;
    phase_ = Phase::RESOLVING;
    std::weak_ptr<bool> alive = alive_;
    e_.resolver().resolve(host, [this, alive](HostResolver::Answer answer) {
      if (!alive.expired()) onResolved(std::move(answer));
    });
  }

  void onResolved(HostResolver::Answer answer) {
    if (phase_ != Phase::RESOLVING) return;
    if (answer.gaiError)
      return dialFailed(EHOSTUNREACH, route::lookupErrorText(target_, answer.gaiError));
    // Go classifies each resolved address; the first one decides here, and an OS dial races only
    // the addresses that are not the tailnet's.
    auto via = route::classify(answer.addrs.front(), e_.tailnetAddrs());
    if (via != route::Via::OS) return connectAddr(answer.addrs.front(), targetPort_);
    std::vector<Addr> os;
    for (const auto& a : answer.addrs)
      if (route::classify(a, e_.tailnetAddrs()) == route::Via::OS) os.push_back(a);
    osDial(std::move(os), targetPort_);
  }

  void connectAddr(Addr a, uint16_t port) {
    a = route::unmap(a);
    switch (route::classify(a, e_.tailnetAddrs())) {
      case route::Via::QUAD100:
        return connectQuad100(a, port);
      case route::Via::TAILNET:
        return dial(a, port);
      case route::Via::OS:
        return osDial({a}, port);
    }
  }

  void osDial(std::vector<Addr> addrs, uint16_t port) {
    targetPort_ = port;
    phase_ = Phase::OS_CONNECTING;
    osDial_ = std::make_unique<OsConnector>(e_.loop(), e_.poller(), std::move(addrs), port,
                                            [this](OsConnector::Outcome o) { onOsDialed(o); });
  }

  void onOsDialed(OsConnector::Outcome o) {
    if (phase_ != Phase::OS_CONNECTING) {
      if (o.fd >= 0) close(o.fd);
      return;
    }
    if (o.fd < 0) return dialFailed(o.err, route::dialErrorText("tcp", o.addr, targetPort_, o.err));
    dialTimer_.reset();
    osFd_ = o.fd;
    osToken_ = e_.poller().add(osFd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, [this](uint32_t) {
      if (phase_ == Phase::SPLICE) pumpSplice();
    });
    if (kind_ == Kind::SOCKS5) {
      // Go answers with the outbound socket's local address.
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      getsockname(osFd_, reinterpret_cast<sockaddr*>(&ss), &len);
      Addr bound;
      uint16_t port = 0;
      fromSockaddr(ss, bound, port);
      auto reply = socks5::buildReply(socks5::REP_SUCCEEDED, bound, port);
      writeLocal(reply.data(), reply.size());
    } else if (httpConnect_) {
      auto resp = http::buildResponse(200);
      writeLocal(resp.data(), resp.size());
    }
    up_.buf = std::move(inbuf_);  // bytes the client sent after its request (or the forwarded head)
    inbuf_.clear();
    phase_ = Phase::SPLICE;
    pumpSplice();
  }

  void onDialTimeout() {
    if (phase_ != Phase::RESOLVING && phase_ != Phase::OS_CONNECTING && phase_ != Phase::CONNECTING) return;
    osDial_.reset();
    if (phase_ == Phase::CONNECTING) return;  // the tailnet path keeps lwIP's own SYN retries
    dialFailed(ETIMEDOUT, "dial tcp " + (target_.empty() ? std::string("target") : target_) + ": i/o timeout");
  }

  // Go: SOCKS5 replies with a code; the HTTP proxy's CONNECT answers 500 with the error in
  // Tailscale-Connect-Error and the body; an absolute-URI request (Go's ReverseProxy) 502 empty.
  void dialFailed(int err, const std::string& text) {
    osDial_.reset();
    if (kind_ == Kind::SOCKS5) return socksFail(route::socksReplyFor(err));
    if (httpConnect_) return httpFail(500, text);
    auto resp = http::buildBadGateway();
    writeLocal(resp.data(), resp.size());
    finish(false);
  }

  // One direction of an OS-dialled connection: read what the peer socket takes, never more than
  // SPLICE_CHUNK held here. Edge-triggered: both directions run until EAGAIN on every event.
  struct Flow {
    std::vector<uint8_t> buf;
    size_t off = 0;
    bool eof = false, shut = false;
  };
  static bool pumpFlow(int from, int to, Flow& f) {
    while (true) {
      if (f.off < f.buf.size()) {
        ssize_t n = send(to, f.buf.data() + f.off, f.buf.size() - f.off, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        f.off += size_t(n);
        if (f.off < f.buf.size()) continue;
        f.buf.clear();
        f.off = 0;
      }
      if (f.eof) {
        if (!f.shut) {
          f.shut = true;
          shutdown(to, SHUT_WR);
        }
        return true;
      }
      f.buf.resize(SPLICE_CHUNK);
      ssize_t n = read(from, f.buf.data(), SPLICE_CHUNK);
      if (n > 0) {
        f.buf.resize(size_t(n));
        continue;
      }
      f.buf.clear();
      if (n == 0) {
        f.eof = true;
        continue;
      }
      return errno == EAGAIN || errno == EINTR;
    }
  }

  void pumpSplice() {
    if (phase_ != Phase::SPLICE) return;
    if (!pumpFlow(fd_, osFd_, up_) || !pumpFlow(osFd_, fd_, down_)) {
      // A reset (or any error) on one side resets the other, as the tailnet path does.
      linger l{1, 0};
      setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      setsockopt(osFd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      return finish(false);
    }
    if (up_.shut && down_.shut) finish(false);
  }

  // quad-100 is terminated here: TCP 53 is MagicDNS over TCP; any other port is refused (Go: RST).
  void connectQuad100(const Addr& q, uint16_t port) {
    dialTimer_.reset();
    if (port != 53) {
      return kind_ == Kind::SOCKS5 ? socksFail(socks5::REP_CONNECTION_REFUSED)
                                   : httpFail(500, "connection refused");
    }
    if (kind_ == Kind::SOCKS5) {
      auto reply = socks5::buildReply(socks5::REP_SUCCEEDED, q, 53);
      writeLocal(reply.data(), reply.size());
    } else if (httpConnect_) {
      auto resp = http::buildResponse(200);
      writeLocal(resp.data(), resp.size());
    } else {
      return httpFail(400, "not an HTTP service");
    }
    phase_ = Phase::DNS_TCP;
    serveDnsTcp();
  }

  // RFC 7766 framing: a 2-byte length before each message, several queries per connection.
  void serveDnsTcp() {
    uint8_t buf[4096];
    while (true) {
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return finish(false);
      if (n < 0) break;
      inbuf_.insert(inbuf_.end(), buf, buf + n);
      if (inbuf_.size() > 2 + 65535) return finish(false);
    }
    while (inbuf_.size() >= 2) {
      size_t len = size_t(inbuf_[0]) << 8 | inbuf_[1];
      if (inbuf_.size() < 2 + len) break;
      auto resp = dns::answer({inbuf_.data() + 2, len}, e_.names());
      inbuf_.erase(inbuf_.begin(), inbuf_.begin() + long(2 + len));
      if (resp.empty()) return finish(false);
      uint8_t prefix[2] = {uint8_t(resp.size() >> 8), uint8_t(resp.size())};
      writeLocal(prefix, 2);
      writeLocal(resp.data(), resp.size());
    }
  }

  // ---- lwIP side ----
  void dial(const Addr& dst, uint16_t port) {
    const auto& self = dst.v6 ? e_.stack().v6() : e_.stack().v4();
    if (!self)
      return kind_ == Kind::SOCKS5 ? socksFail(socks5::REP_NETWORK_UNREACHABLE)
                                   : httpFail(502, "no tailnet address of that family");
    pcb_ = tcp_new_ip_type(dst.v6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4);
    if (!pcb_)
      return kind_ == Kind::SOCKS5 ? socksFail(socks5::REP_GENERAL_FAILURE) : httpFail(500, "out of memory");
    ip_addr_t local = toLwip(*self), remote = toLwip(dst);
    tcp_bind(pcb_, &local, 0);
    setupPcb();
    phase_ = Phase::CONNECTING;
    err_t err = tcp_connect(pcb_, &remote, port, [](void* arg, struct tcp_pcb*, err_t) -> err_t {
      static_cast<Conn*>(arg)->onConnected();
      return ERR_OK;
    });
    if (err != ERR_OK) {
      detachPcb(true);
      return kind_ == Kind::SOCKS5 ? socksFail(socks5::REP_GENERAL_FAILURE) : httpFail(500, "connect failed");
    }
  }

  void onConnected() {
    if (phase_ != Phase::CONNECTING) return;
    dialTimer_.reset();
    if (kind_ == Kind::SOCKS5) {
      auto reply = socks5::buildReply(socks5::REP_SUCCEEDED, fromLwip(&pcb_->local_ip), pcb_->local_port);
      writeLocal(reply.data(), reply.size());
    } else if (httpConnect_) {
      auto resp = http::buildResponse(200);
      writeLocal(resp.data(), resp.size());
    }
    stash_ = std::move(inbuf_);
    inbuf_.clear();
    phase_ = Phase::BRIDGE;
    pumpToTailnet();
  }

  void setupPcb() {
    tcp_arg(pcb_, this);
    tcp_nagle_disable(pcb_);
    // lwIP's rule: a callback that closed or aborted its pcb returns ERR_ABRT so lwIP stops
    // touching it.
    tcp_recv(pcb_, [](void* arg, struct tcp_pcb* pcb, struct pbuf* p, err_t) -> err_t {
      auto* c = static_cast<Conn*>(arg);
      err_t err = c->onRecv(p);
      return c->pcb_ == pcb ? err : err_t(ERR_ABRT);
    });
    tcp_sent(pcb_, [](void* arg, struct tcp_pcb* pcb, u16_t len) -> err_t {
      auto* c = static_cast<Conn*>(arg);
      c->unqueue(len);
      c->pumpToTailnet();
      return c->pcb_ == pcb ? err_t(ERR_OK) : err_t(ERR_ABRT);
    });
    tcp_poll(
        pcb_,
        [](void* arg, struct tcp_pcb* pcb) -> err_t {
          auto* c = static_cast<Conn*>(arg);
          c->pumpToTailnet();
          return c->pcb_ == pcb ? err_t(ERR_OK) : err_t(ERR_ABRT);
        },
        4);
    tcp_err(pcb_, [](void* arg, err_t err) { static_cast<Conn*>(arg)->onPcbError(err); });
  }

  // Bytes handed to lwIP and not yet acknowledged, across connections, stay under a cap: lwIP's
  // own limits vanish with malloc-backed memory. A connection that hits it resumes from its poll
  // callback once others' data is acknowledged.
  size_t globalRoom() const {
    size_t used = e_.queuedBytes(), cap = e_.limits().maxQueuedBytes;
    return used >= cap ? 0 : cap - used;
  }
  void unqueue(size_t len) {
    len = std::min(len, queued_);
    queued_ -= len;
    e_.queuedBytes() -= len;
  }

  void detachPcb(bool abort) {
    unqueue(queued_);
    if (!pcb_) return;
    tcp_arg(pcb_, nullptr);
    tcp_recv(pcb_, nullptr);
    tcp_sent(pcb_, nullptr);
    tcp_poll(pcb_, nullptr, 0);
    tcp_err(pcb_, nullptr);
    if (abort) {
      tcp_abort(pcb_);
    } else if (tcp_close(pcb_) != ERR_OK) {
      tcp_abort(pcb_);
    }
    pcb_ = nullptr;
  }

  void onPcbError(err_t err) {
    pcb_ = nullptr;  // lwIP has freed it
    unqueue(queued_);
    if (phase_ == Phase::CONNECTING) {
      if (kind_ == Kind::SOCKS5)
        return socksFail(err == ERR_RST ? socks5::REP_CONNECTION_REFUSED : socks5::REP_HOST_UNREACHABLE);
      return dialFailed(err == ERR_RST ? ECONNREFUSED : EHOSTUNREACH,
                        err == ERR_RST ? "connection refused" : "connection failed");
    }
    // Reset by the peer: reset the local side too.
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    finish(false);
  }

  err_t onRecv(struct pbuf* p) {
    if (!p) {
      tailnetEof_ = true;
      flushToLocal();
      return ERR_OK;
    }
    if (phase_ == Phase::DONE) {
      if (pcb_) tcp_recved(pcb_, p->tot_len);
      pbuf_free(p);
      return ERR_OK;
    }
    if (e_.bufferedBytes() + p->tot_len > e_.limits().maxBufferedBytes) return ERR_MEM;  // lwIP retries later
    e_.bufferedBytes() += p->tot_len;
    if (toLocal_) {
      pbuf_cat(toLocal_, p);
    } else {
      toLocal_ = p;
      toLocalOff_ = 0;
    }
    flushToLocal();
    return ERR_OK;
  }

  // tailnet → local: write what the socket takes; open the window by what was written.
  void flushToLocal() {
    size_t written = 0;
    while (toLocal_) {
      struct pbuf* q = toLocal_;
      size_t avail = q->len - toLocalOff_;
      ssize_t n = avail ? send(fd_, static_cast<uint8_t*>(q->payload) + toLocalOff_, avail, MSG_NOSIGNAL) : 0;
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return abortBoth();
      }
      written += size_t(n);
      toLocalOff_ += size_t(n);
      if (toLocalOff_ < q->len) break;
      toLocal_ = q->next;
      if (toLocal_) pbuf_ref(toLocal_);
      pbuf_free(q);  // frees only q: its successor is held by the reference just taken
      toLocalOff_ = 0;
    }
    e_.bufferedBytes() -= written;
    while (written > 0 && pcb_) {
      u16_t chunk = u16_t(std::min<size_t>(written, 0xffff));
      tcp_recved(pcb_, chunk);
      written -= chunk;
    }
    if (!toLocal_ && tailnetEof_ && !localShut_) {
      localShut_ = true;
      shutdown(fd_, SHUT_WR);
    }
    maybeDone();
  }

  // local → tailnet: read only what lwIP can queue; the sent/poll callbacks resume.
  void pumpToTailnet() {
    if (phase_ != Phase::BRIDGE || !pcb_) return;
    bool wrote = false;
    while (true) {
      if (!stash_.empty()) {
        size_t room =
            std::min({size_t(tcp_sndbuf(pcb_)), stash_.size() - stashOff_, globalRoom(), size_t(0xffff)});
        if (room == 0 || tcp_sndqueuelen(pcb_) >= TCP_SND_QUEUELEN - 4) break;
        err_t err = tcp_write(pcb_, stash_.data() + stashOff_, u16_t(room), TCP_WRITE_FLAG_COPY);
        if (err == ERR_MEM) break;  // retried from sent/poll
        if (err != ERR_OK) return abortBoth();
        wrote = true;
        stashOff_ += room;
        queued_ += room;
        e_.queuedBytes() += room;
        if (stashOff_ == stash_.size()) {
          stash_.clear();
          stashOff_ = 0;
        }
        continue;
      }
      if (localEof_) break;
      size_t room = std::min(size_t(tcp_sndbuf(pcb_)), globalRoom());
      if (room < 1024 || tcp_sndqueuelen(pcb_) >= TCP_SND_QUEUELEN - 4) break;
      uint8_t buf[65536];
      ssize_t n = read(fd_, buf, std::min(room, sizeof buf));
      if (n == 0) {
        localEof_ = true;
        break;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return abortBoth();
      }
      stash_.assign(buf, buf + n);
      stashOff_ = 0;
    }
    if (localEof_ && stash_.empty() && !tailnetShut_ && pcb_) {
      tailnetShut_ = true;
      tcp_shutdown(pcb_, 0, 1);
      wrote = true;
    }
    if (wrote && pcb_) tcp_output(pcb_);
    maybeDone();
  }

  void maybeDone() {
    if (phase_ == Phase::BRIDGE && localShut_ && tailnetShut_ && !toLocal_ && stash_.empty()) finish(false);
  }

  void abortBoth() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    detachPcb(true);
    finish(false);
  }

  void finish(bool abortPcb) {
    if (phase_ == Phase::DONE && !token_) return;
    phase_ = Phase::DONE;
    detachPcb(abortPcb);
    osDial_.reset();
    dialTimer_.reset();
    if (token_) {
      e_.poller().remove(token_);
      token_ = 0;
    }
    if (osToken_) {
      e_.poller().remove(osToken_);
      osToken_ = 0;
    }
    e_.release(this);
  }

  static constexpr std::chrono::seconds HANDSHAKE_TIMEOUT{30};

  Engine& e_;
  int fd_;
  Kind kind_;
  Phase phase_;
  bus::Handle handshakeTimer_;
  uint64_t token_ = 0;
  struct tcp_pcb* pcb_ = nullptr;
  std::vector<uint8_t> inbuf_, stash_;
  size_t stashOff_ = 0;
  size_t queued_ = 0;  // our share of Engine::queuedBytes()
  struct pbuf* toLocal_ = nullptr;
  size_t toLocalOff_ = 0;
  bool httpConnect_ = false;
  bool localEof_ = false, tailnetEof_ = false, localShut_ = false, tailnetShut_ = false;
  // OS path.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // resolver answers check it
  bus::Handle dialTimer_;
  std::string target_;  // the name being resolved, for error texts
  uint16_t targetPort_ = 0;
  std::unique_ptr<OsConnector> osDial_;
  int osFd_ = -1;
  uint64_t osToken_ = 0;
  Flow up_, down_;  // local → OS, OS → local

  friend class Engine;
};

// ---- SOCKS5 UDP ASSOCIATE: a loopback UDP socket ⇄ one lwIP UDP pcb -------------------------
class UdpAssoc {
 public:
  UdpAssoc(Engine& e, int fd, Conn* control) : e_(e), fd_(fd), control_(control) {
    token_ = e_.poller().add(fd_, EPOLLIN, [this](uint32_t) { onLocal(); });
  }
  ~UdpAssoc() {
    for (auto& [key, t] : osTargets_) {
      e_.poller().remove(t.token);
      close(t.fd);
    }
    for (auto* pcb : {pcb_, pcb6_}) {
      if (!pcb) continue;
      e_.assocPorts_.erase(pcb->local_port);
      udp_remove(pcb);
    }
    if (token_) e_.poller().remove(token_);
    close(fd_);
  }
  Conn* control() const { return control_; }
  void detachControl() { control_ = nullptr; }

 private:
  bool ensurePcb(bool v6) {
    auto& pcb = v6 ? pcb6_ : pcb_;
    if (pcb) return true;
    const auto& self = v6 ? e_.stack().v6() : e_.stack().v4();
    if (!self) return false;
    pcb = udp_new_ip_type(v6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4);
    if (!pcb) return false;
    ip_addr_t local = toLwip(*self);
    if (udp_bind(pcb, &local, 0) != ERR_OK) {
      udp_remove(pcb);
      pcb = nullptr;
      return false;
    }
    e_.assocPorts_.insert(pcb->local_port);
    udp_recv(
        pcb,
        [](void* arg, struct udp_pcb*, struct pbuf* p, const ip_addr_t* addr, u16_t port) {
          static_cast<UdpAssoc*>(arg)->onTailnet(p, fromLwip(addr), port);
        },
        this);
    return true;
  }

  void onLocal() {
    uint8_t buf[65536];
    while (true) {
      sockaddr_storage from{};
      socklen_t fromLen = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
      if (n < 0) break;
      // The first sender owns the association (RFC 1928 §7: the client's address).
      if (!haveClient_) {
        client_ = from;
        clientLen_ = fromLen;
        haveClient_ = true;
      } else if (fromLen != clientLen_ || std::memcmp(&from, &client_, fromLen) != 0) {
        continue;
      }
      auto h = socks5::parseUdpHeader({buf, size_t(n)});
      if (h.status != socks5::Status::OK || h.frag != 0) continue;  // fragments are not supported
      std::span<const uint8_t> payload(buf + h.headerLen, size_t(n) - h.headerLen);
      if (!h.target.isDomain) {
        sendTo(h.target.addr, h.target.port, payload);
      } else if (auto a = e_.resolve(h.target.domain)) {  // MagicDNS first
        sendTo(*a, h.target.port, payload);
      } else {
        sendToName(h.target.domain, h.target.port, payload);
      }
    }
    e_.afterWork();
  }

  // Go's SOCKS5 dials each UDP target with UserDial: node addresses through lwIP, quad-100:53
  // answered here, everything else from a connected OS socket per target.
  // `name`: the target as the client named it, if by name (OS replies repeat it, as Go's do).
  void sendTo(Addr dst, uint16_t port, std::span<const uint8_t> payload, const std::string& name = "") {
    dst = route::unmap(dst);
    switch (route::classify(dst, e_.tailnetAddrs())) {
      case route::Via::QUAD100: {
        if (port != 53) return;
        auto resp = dns::answer(payload, e_.names());
        if (!resp.empty()) replyToClient(dst, 53, resp);
        return;
      }
      case route::Via::OS:
        return sendOs(dst, port, payload, name);
      case route::Via::TAILNET:
        break;
    }
    if (!ensurePcb(dst.v6)) return;
    struct pbuf* p = pbuf_alloc(PBUF_TRANSPORT, u16_t(payload.size()), PBUF_RAM);
    if (!p) return;
    std::memcpy(p->payload, payload.data(), payload.size());
    ip_addr_t to = toLwip(dst);
    udp_sendto(dst.v6 ? pcb6_ : pcb_, p, &to, port);
    pbuf_free(p);
  }

  void sendOs(const Addr& dst, uint16_t port, std::span<const uint8_t> payload, const std::string& name) {
    auto key = std::make_tuple(dst, port, name);
    auto it = osTargets_.find(key);
    if (it == osTargets_.end()) {
      if (osTargets_.size() >= MAX_OS_TARGETS) return;
      sockaddr_storage ss;
      socklen_t len = toSockaddr(dst, port, ss);
      int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return;
      if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        close(fd);
        return;
      }
      OsTarget t;
      t.fd = fd;
      t.token = e_.poller().add(fd, EPOLLIN, [this, key](uint32_t) { onOsReply(key); });
      it = osTargets_.emplace(key, t).first;
    }
    send(it->second.fd, payload.data(), payload.size(), MSG_NOSIGNAL);
  }

  void onOsReply(const std::tuple<Addr, uint16_t, std::string>& key) {
    auto it = osTargets_.find(key);
    if (it == osTargets_.end()) return;
    uint8_t buf[65536];
    while (true) {
      ssize_t n = recv(it->second.fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        continue;  // ECONNREFUSED from an earlier datagram: Go's reader logs it and reads on
      }
      const auto& [addr, port, name] = key;
      if (name.empty()) {
        replyToClient(addr, port, {buf, size_t(n)});
      } else {
        std::vector<uint8_t> d;
        socks5::appendUdpHeader(d, name, port);
        d.insert(d.end(), buf, buf + n);
        sendToClient(d);
      }
    }
  }

  // A name outside MagicDNS: resolved once per association by the OS resolver; datagrams wait
  // (a few) meanwhile; a failed lookup drops them and the next datagram tries again.
  void sendToName(const std::string& name, uint16_t port, std::span<const uint8_t> payload) {
    auto it = names_.find(name);
    if (it != names_.end() && it->second.addr) return sendTo(*it->second.addr, port, payload, name);
    if (it == names_.end()) {
      if (names_.size() >= MAX_OS_TARGETS) return;
      it = names_.emplace(name, PendingName{}).first;
      std::weak_ptr<bool> alive = alive_;
      e_.resolver().resolve(name, [this, alive, name](HostResolver::Answer answer) {
        if (!alive.expired()) onNameResolved(name, std::move(answer));
      });
    }
    if (it->second.queued.size() < MAX_QUEUED)
      it->second.queued.emplace_back(port, std::vector<uint8_t>(payload.begin(), payload.end()));
  }

  void onNameResolved(const std::string& name, HostResolver::Answer answer) {
    auto it = names_.find(name);
    if (it == names_.end()) return;
    if (answer.gaiError) {
      names_.erase(it);
      return;
    }
    it->second.addr = answer.addrs.front();
    auto queued = std::move(it->second.queued);
    for (auto& [port, data] : queued) sendTo(answer.addrs.front(), port, data, name);
    e_.scheduleFlush();
  }

  void onTailnet(struct pbuf* p, const Addr& from, uint16_t port) {
    std::vector<uint8_t> payload(p->tot_len);
    pbuf_copy_partial(p, payload.data(), p->tot_len, 0);
    pbuf_free(p);
    replyToClient(from, port, payload);
  }

  void replyToClient(const Addr& from, uint16_t port, std::span<const uint8_t> payload) {
    std::vector<uint8_t> d;
    socks5::appendUdpHeader(d, from, port);
    d.insert(d.end(), payload.begin(), payload.end());
    sendToClient(d);
  }

  void sendToClient(const std::vector<uint8_t>& d) {
    if (!haveClient_) return;
    sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&client_), clientLen_);
  }

  static constexpr size_t MAX_OS_TARGETS = 256, MAX_QUEUED = 16;
  struct OsTarget {
    int fd = -1;
    uint64_t token = 0;
  };
  struct PendingName {
    std::optional<Addr> addr;
    std::vector<std::pair<uint16_t, std::vector<uint8_t>>> queued;
  };

  Engine& e_;
  int fd_;
  Conn* control_;
  uint64_t token_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<std::tuple<Addr, uint16_t, std::string>, OsTarget> osTargets_;
  std::map<std::string, PendingName> names_;
  struct udp_pcb* pcb_ = nullptr;
  struct udp_pcb* pcb6_ = nullptr;
  sockaddr_storage client_{};
  socklen_t clientLen_ = 0;
  bool haveClient_ = false;
};

void Conn::startUdpAssociate() {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len);
  Addr a;
  uint16_t port = 0;
  fromSockaddr(local, a, port);
  int u = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_storage bindAddr;
  socklen_t bl = toSockaddr(a, 0, bindAddr);
  if (u < 0 || bind(u, reinterpret_cast<sockaddr*>(&bindAddr), bl) != 0) {
    if (u >= 0) close(u);
    return socksFail(socks5::REP_GENERAL_FAILURE);
  }
  len = sizeof bindAddr;
  getsockname(u, reinterpret_cast<sockaddr*>(&bindAddr), &len);
  fromSockaddr(bindAddr, a, port);
  assoc = e_.newAssoc(u, this);
  if (!assoc) return socksFail(socks5::REP_GENERAL_FAILURE);
  auto reply = socks5::buildReply(socks5::REP_SUCCEEDED, a, port);
  writeLocal(reply.data(), reply.size());
  phase_ = Phase::UDP_CONTROL;
}

std::vector<uint8_t> icmp6PortUnreachable(std::span<const uint8_t> original);

// ---- inbound UDP flow: lwIP pcb (our address, port) connected to the peer ⇄ 127.0.0.1:port ---
class UdpFlow {
 public:
  UdpFlow(Engine& e, int fd, struct udp_pcb* pcb, std::vector<uint8_t> first, bool v6)
      : e_(e), fd_(fd), pcb_(pcb), first_(std::move(first)), v6_(v6) {
    lastUsed = e_.loop().now();
    token_ = e_.poller().add(fd_, EPOLLIN, [this](uint32_t) { onLocal(); });
    udp_recv(
        pcb_,
        [](void* arg, struct udp_pcb*, struct pbuf* p, const ip_addr_t*, u16_t) {
          static_cast<UdpFlow*>(arg)->onTailnet(p);
        },
        this);
  }
  ~UdpFlow() {
    udp_remove(pcb_);
    if (token_) e_.poller().remove(token_);
    close(fd_);
  }
  bus::Loop::Clock::time_point lastUsed;
  bool dead = false;

 private:
  void onTailnet(struct pbuf* p) {
    uint8_t buf[65536];
    u16_t n = pbuf_copy_partial(p, buf, p->tot_len, 0);
    pbuf_free(p);
    lastUsed = e_.loop().now();
    send(fd_, buf, n, MSG_NOSIGNAL);
  }

  void onLocal() {
    uint8_t buf[65536];
    while (!dead) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        if (errno == ECONNREFUSED) refused();
        break;
      }
      lastUsed = e_.loop().now();
      struct pbuf* p = pbuf_alloc(PBUF_TRANSPORT, u16_t(n), PBUF_RAM);
      if (!p) break;
      std::memcpy(p->payload, buf, size_t(n));
      udp_send(pcb_, p);
      pbuf_free(p);
    }
    e_.afterWork();
  }

  // Nothing listens on 127.0.0.1:port: tell the peer with ICMP port unreachable, as a host would.
  void refused() {
    if (!first_.empty() && !v6_) {
      struct pbuf* p = pbuf_alloc(PBUF_IP, u16_t(first_.size()), PBUF_RAM);
      if (p) {
        std::memcpy(p->payload, first_.data(), first_.size());
        icmp_port_unreach(v6_, p);
        pbuf_free(p);
      }
    } else if (!first_.empty()) {
      // lwIP's ICMPv6 error path reads the addresses of the packet being input, which is long
      // gone here: build the port unreachable (RFC 4443 §3.1) ourselves.
      e_.emit(icmp6PortUnreachable(first_));
    }
    dead = true;
    e_.release(this);
  }

  Engine& e_;
  int fd_;
  struct udp_pcb* pcb_;
  std::vector<uint8_t> first_;
  bool v6_;
  uint64_t token_ = 0;
};

std::vector<uint8_t> icmp6PortUnreachable(std::span<const uint8_t> original) {
  constexpr size_t MAX = LwipStack::MTU;
  size_t quoted = std::min(original.size(), MAX - 40 - 8);
  std::vector<uint8_t> p(40 + 8 + quoted, 0);
  p[0] = 0x60;
  p[4] = uint8_t((8 + quoted) >> 8);
  p[5] = uint8_t(8 + quoted);
  p[6] = PROTO_ICMP6;
  p[7] = 64;
  std::memcpy(&p[8], &original[24], 16);  // from the address the datagram was sent to
  std::memcpy(&p[24], &original[8], 16);  // back to its sender
  p[40] = 1;                              // destination unreachable
  p[41] = 4;                              // port unreachable
  std::memcpy(&p[48], original.data(), quoted);
  uint32_t sum = 0;
  for (size_t i = 8; i < 40; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  sum += uint32_t(8 + quoted) + PROTO_ICMP6;
  for (size_t i = 40; i + 1 < p.size(); i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (p.size() & 1) sum += uint32_t(p.back()) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t c = uint16_t(~sum);
  p[42] = uint8_t(c >> 8);
  p[43] = uint8_t(c);
  return p;
}

// ---- Engine ------------------------------------------------------------------------------
struct Engine::Listener {
  int fd = -1;
  int kind = 0;
  uint64_t token = 0;
};

Engine::Engine(bus::Loop& loop, Output toTunnel, EngineLimits limits)
    : loop_(loop),
      output_(std::move(toTunnel)),
      limits_(limits),
      poller_(loop, [this] { afterWork(); }),
      stack_(loop, [this](std::span<const uint8_t> p) {
        if (!*alive_) return;
        PacketInfo info;
        if (parsePacket(p, info) == ParseStatus::OK) filter_.runOut(info);
        ++stats_.toTunnel;
        output_(p);
        scheduleFlush();
      }) {
  resolver_ = std::make_unique<HostResolver>(loop_);
  udpSweep_ = loop_.every(std::chrono::seconds(5), [this] { sweepUdp(); });
}

Engine::~Engine() {
  *alive_ = false;
  for (auto* c : conns_) delete c;
  for (auto* c : dead_)
    if (!conns_.count(c)) delete c;
  for (auto& [k, f] : udpFlows_) delete f;
  for (auto* f : deadFlows_) delete f;
  for (auto* a : assocs_) delete a;
  for (auto* a : deadAssocs_) delete a;
  for (auto& [port, pcb] : tcpListeners_) tcp_close(pcb);
  for (auto& l : listeners_) {
    poller_.remove(l->token);
    close(l->fd);
  }
}

Result<void> Engine::listenSocks5(const std::string& addrPort) {
  if (!httpAddr_.empty() && addrPort == httpFlag_) {
    for (auto& l : listeners_) l->kind |= KIND_SOCKS;
    socksAddr_ = httpAddr_;
    return {};
  }
  socksFlag_ = addrPort;
  return listen(addrPort, KIND_SOCKS);
}

Result<void> Engine::listenHttp(const std::string& addrPort) {
  if (!socksAddr_.empty() && addrPort == socksFlag_) {
    for (auto& l : listeners_) l->kind |= KIND_HTTP;
    httpAddr_ = socksAddr_;
    return {};
  }
  httpFlag_ = addrPort;
  return listen(addrPort, KIND_HTTP);
}

Result<void> Engine::listen(const std::string& addrPort, int kind) {
  std::string text = addrPort;
  if (text.starts_with("localhost:")) text = "127.0.0.1" + text.substr(9);
  if (text.starts_with(":")) text = "127.0.0.1" + text;  // loopback unless told otherwise
  auto ap = ipn::parseIpAddrPort(text);
  if (!ap) return Error::invalid("listen address " + addrPort + ": " + ap.error().message);
  Addr a;
  a.v6 = ap->addr.v6;
  std::copy(ap->addr.bytes.begin(), ap->addr.bytes.begin() + (a.v6 ? 16 : 4), a.bytes.begin());
  sockaddr_storage ss;
  socklen_t len = toSockaddr(a, ap->port, ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 512) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    return Error::failed("listen " + addrPort + ": " + std::strerror(err));
  }
  len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  uint16_t port = 0;
  fromSockaddr(ss, a, port);
  std::string bound =
      a.v6 ? "[" + a.toString() + "]:" + std::to_string(port) : a.toString() + ":" + std::to_string(port);
  (kind == KIND_SOCKS ? socksAddr_ : httpAddr_) = bound;
  auto l = std::make_unique<Listener>();
  l->fd = fd;
  l->kind = kind;
  Listener* raw = l.get();
  l->token = poller_.add(fd, EPOLLIN, [this, raw](uint32_t) { onAccept(*raw); });
  listeners_.push_back(std::move(l));
  return {};
}

void Engine::onAccept(Listener& l) {
  while (true) {
    int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    if (conns_.size() >= limits_.maxConnections) {
      ++stats_.refusedLimit;
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto kind = l.kind == KIND_BOTH    ? Conn::Kind::AUTO
                : l.kind == KIND_SOCKS ? Conn::Kind::SOCKS5
                                       : Conn::Kind::HTTP;
    auto* c = new Conn(*this, fd, kind);
    conns_.insert(c);
    ++stats_.tcpConnections;
  }
}

void Engine::configure(EngineConfig config, std::vector<std::string>* filterErrors) {
  stack_.setAddresses(config.v4, config.v6);
  std::vector<Addr> local;
  if (config.v4) local.push_back(*config.v4);
  if (config.v6) local.push_back(*config.v6);
  filter_.configure(local, config.filterKnown, config.rules, config.shieldsUp, filterErrors);
  names_ = std::move(config.names);
  tailnet_.clear();
  for (const auto& a : local) tailnet_.add(a);
  for (const auto& a : names_.allAddrs()) tailnet_.add(a);
  afterWork();
}

std::optional<Addr> Engine::resolve(const std::string& host) const {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (auto a = parseAddr(h)) return *a;
  auto addrs = dns::resolve(names_, h);
  // Our own family first: an IPv4-only node cannot reach a peer's IPv6 address.
  for (const auto& a : addrs)
    if ((a.v6 ? stack_.v6() : stack_.v4()).has_value()) return a;
  return std::nullopt;
}

size_t Engine::connectionCount() const {
  return conns_.size();
}

void Engine::fromTunnel(std::span<const uint8_t> packet) {
  ++stats_.fromTunnel;
  PacketInfo info;
  if (parsePacket(packet, info) != ParseStatus::OK) {
    ++stats_.malformed;
    return;
  }
  auto verdict = filter_.runIn(info);
  if (verdict.verdict == Verdict::DROP) {
    ++stats_.filtered;
    return;
  }
  if (!info.fragment && info.isTcpSyn()) return handleInboundSyn(info, packet);
  if (!info.fragment && info.proto == PROTO_UDP && handleInboundUdp(info, packet)) return;
  stack_.input(packet);
}

void Engine::handleInboundSyn(const PacketInfo& info, std::span<const uint8_t> packet) {
  InKey key{info.v6, info.src, info.srcPort, info.dstPort};
  if (inboundReady_.count(key)) return stack_.input(packet);  // a retransmitted SYN
  if (inboundPending_.count(key)) return;                     // still dialing 127.0.0.1
  if (conns_.size() >= limits_.maxConnections) {
    ++stats_.refusedLimit;
    return stack_.input(packet);  // no listener takes it: lwIP answers RST
  }
  // Go's userspace mode: dial 127.0.0.1:<port> first; complete the handshake only if it worked.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_storage ss;
  socklen_t len = toSockaddr(Addr::v4(127, 0, 0, 1), info.dstPort, ss);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd);
    return stack_.input(packet);  // RST
  }
  auto* c = new Conn(*this, fd, Conn::Kind::INBOUND);
  c->syn.assign(packet.begin(), packet.end());
  c->inboundV6 = info.v6;
  c->inboundRemote = info.src;
  c->inboundRemotePort = info.srcPort;
  c->inboundLocalPort = info.dstPort;
  conns_.insert(c);
  inboundPending_[key] = c;
  ++stats_.inboundTcp;
}

void Engine::ensureListener(uint16_t port) {
  if (tcpListeners_.count(port)) return;
  struct tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
  if (!pcb) return;
  ip_set_option(pcb, SOF_REUSEADDR);
  if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
    tcp_close(pcb);
    return;
  }
  struct tcp_pcb* l = tcp_listen_with_backlog(pcb, 255);
  if (!l) {
    tcp_close(pcb);
    return;
  }
  tcp_arg(l, this);
  tcp_accept(l, [](void* arg, struct tcp_pcb* newpcb, err_t err) -> err_t {
    auto* e = static_cast<Engine*>(arg);
    if (err != ERR_OK || !newpcb) return ERR_VAL;
    Conn* c = e->takeInbound(IP_IS_V6(&newpcb->remote_ip), fromLwip(&newpcb->remote_ip), newpcb->remote_port,
                             newpcb->local_port);
    if (!c) {
      tcp_abort(newpcb);
      return ERR_ABRT;
    }
    c->attachAccepted(newpcb);
    return ERR_OK;
  });
  tcpListeners_[port] = l;
}

void Engine::inboundReady(Conn* c, std::span<const uint8_t> syn) {
  InKey key{c->inboundV6, c->inboundRemote, c->inboundRemotePort, c->inboundLocalPort};
  inboundPending_.erase(key);
  inboundReady_[key] = c;
  // A SYN whose handshake never completes (the peer went away) must not pin the local socket.
  c->acceptTimer = loop_.after(std::chrono::seconds(30), [this, c] {
    if (conns_.count(c) && c->phase_ == Conn::Phase::WAIT_ACCEPT) c->fail();
  });
  ensureListener(c->inboundLocalPort);
  std::vector<uint8_t> copy(syn.begin(), syn.end());
  stack_.input(copy);
}

void Engine::inboundFailed(Conn* c, std::span<const uint8_t> syn) {
  InKey key{c->inboundV6, c->inboundRemote, c->inboundRemotePort, c->inboundLocalPort};
  inboundPending_.erase(key);
  std::vector<uint8_t> copy(syn.begin(), syn.end());
  // With no ready connection the accept callback aborts it, or no listener exists: either way
  // the peer gets a RST, as Go answers when the local dial fails.
  stack_.input(copy);
  c->fail();
}

Conn* Engine::takeInbound(bool v6, const Addr& remote, uint16_t remotePort, uint16_t localPort) {
  auto it = inboundReady_.find(InKey{v6, remote, remotePort, localPort});
  if (it == inboundReady_.end()) return nullptr;
  Conn* c = it->second;
  if (c->phase_ != Conn::Phase::WAIT_ACCEPT) return nullptr;
  return c;
}

void Engine::forgetInbound(Conn* c) {
  InKey key{c->inboundV6, c->inboundRemote, c->inboundRemotePort, c->inboundLocalPort};
  if (auto it = inboundReady_.find(key); it != inboundReady_.end() && it->second == c)
    inboundReady_.erase(it);
  if (auto it = inboundPending_.find(key); it != inboundPending_.end() && it->second == c)
    inboundPending_.erase(it);
}

bool Engine::handleInboundUdp(const PacketInfo& info, std::span<const uint8_t> packet) {
  if (assocPorts_.count(info.dstPort)) return false;  // a reply to a SOCKS5 UDP association
  InKey key{info.v6, info.src, info.srcPort, info.dstPort};
  if (udpFlows_.count(key)) return false;  // lwIP delivers to the flow's pcb
  if (udpFlows_.size() >= limits_.maxUdpFlows) {
    ++stats_.refusedLimit;
    return true;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  sockaddr_storage ss;
  socklen_t len = toSockaddr(Addr::v4(127, 0, 0, 1), info.dstPort, ss);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return true;
  }
  struct udp_pcb* pcb = udp_new_ip_type(info.v6 ? IPADDR_TYPE_V6 : IPADDR_TYPE_V4);
  if (!pcb) {
    close(fd);
    return true;
  }
  ip_set_option(pcb, SOF_REUSEADDR);
  ip_addr_t local = toLwip(info.dst), remote = toLwip(info.src);
  if (udp_bind(pcb, &local, info.dstPort) != ERR_OK || udp_connect(pcb, &remote, info.srcPort) != ERR_OK) {
    udp_remove(pcb);
    close(fd);
    return true;
  }
  auto* f = new UdpFlow(*this, fd, pcb, std::vector<uint8_t>(packet.begin(), packet.end()), info.v6);
  udpFlows_[key] = f;
  ++stats_.inboundUdpFlows;
  return false;  // now lwIP finds the flow's pcb
}

void Engine::sweepUdp() {
  auto now = loop_.now();
  for (auto it = udpFlows_.begin(); it != udpFlows_.end();) {
    if (it->second->dead || now - it->second->lastUsed > limits_.udpIdle) {
      if (!it->second->dead) deadFlows_.push_back(it->second);
      it = udpFlows_.erase(it);
    } else {
      ++it;
    }
  }
  reap();
}

UdpAssoc* Engine::newAssoc(int fd, Conn* control) {
  if (assocs_.size() >= limits_.maxUdpFlows) {
    close(fd);
    return nullptr;
  }
  auto* a = new UdpAssoc(*this, fd, control);
  assocs_.insert(a);
  return a;
}

void Engine::release(Conn* c) {
  if (!conns_.count(c)) return;
  forgetInbound(c);
  if (c->assoc) {
    release(c->assoc);
    c->assoc = nullptr;
  }
  conns_.erase(c);
  dead_.push_back(c);
  scheduleFlush();
}

void Engine::release(UdpFlow* f) {
  for (auto it = udpFlows_.begin(); it != udpFlows_.end(); ++it)
    if (it->second == f) {
      udpFlows_.erase(it);
      deadFlows_.push_back(f);
      break;
    }
  scheduleFlush();
}

void Engine::release(UdpAssoc* a) {
  if (assocs_.erase(a)) deadAssocs_.push_back(a);
  scheduleFlush();
}

void Engine::reap() {
  auto conns = std::move(dead_);
  auto flows = std::move(deadFlows_);
  auto assocs = std::move(deadAssocs_);
  dead_.clear();
  deadFlows_.clear();
  deadAssocs_.clear();
  for (auto* c : conns) delete c;
  for (auto* f : flows) delete f;
  for (auto* a : assocs) delete a;
}

void Engine::emit(std::span<const uint8_t> packet) {
  stack_.emit(packet);
}

void Engine::scheduleFlush() {
  if (flushScheduled_ || !*alive_) return;
  flushScheduled_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.post([this, alive] {
    if (alive.expired()) return;
    flushScheduled_ = false;
    afterWork();
  });
}

void Engine::afterWork() {
  reap();
  if (flushHook_) flushHook_();
  stack_.kick();
}

}  // namespace tnet::netstack
