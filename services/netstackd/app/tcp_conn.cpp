#include "services/netstackd/app/tcp_conn.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "services/netstackd/app/addr_convert.h"
#include "services/netstackd/core/http_proxy.h"
#include "services/netstackd/core/socks5.h"

namespace tnet::netstack {

Conn::Conn(Engine& e, int fd, Kind kind) : e_(e), fd_(fd), kind_(kind) {
  phase_ = kind == Kind::INBOUND ? Phase::LOCAL_DIAL
           : kind == Kind::HTTP  ? Phase::HTTP_HEAD
                                 : Phase::GREETING;
  token_ = e_.poller().add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, [this](uint32_t ev) { onFdEvent(ev); });
  if (kind != Kind::INBOUND) {
    // A local client that never completes its request must not hold a connection slot.
    handshakeTimer_ = e_.loop().after(HANDSHAKE_TIMEOUT, [this] {
      if (phase_ == Phase::GREETING || phase_ == Phase::REQUEST || phase_ == Phase::HTTP_HEAD) finish(false);
    });
  }
}

Conn::~Conn() {
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

void Conn::attachAccepted(struct tcp_pcb* pcb) {
  pcb_ = pcb;
  acceptTimer.reset();
  setupPcb();
  phase_ = Phase::BRIDGE;
  pumpToTailnet();
}

void Conn::onFdEvent(uint32_t ev) {
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

void Conn::onReadable() {
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

void Conn::writeLocal(const void* data, size_t len) {
  // Handshake replies are small and the socket is fresh: they fit its send buffer.
  [[maybe_unused]] ssize_t n = send(fd_, data, len, MSG_NOSIGNAL);
}

void Conn::dial(const Addr& dst, uint16_t port) {
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

void Conn::onConnected() {
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

void Conn::setupPcb() {
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
size_t Conn::globalRoom() const {
  size_t used = e_.queuedBytes(), cap = e_.limits().maxQueuedBytes;
  return used >= cap ? 0 : cap - used;
}

void Conn::unqueue(size_t len) {
  len = std::min(len, queued_);
  queued_ -= len;
  e_.queuedBytes() -= len;
}

void Conn::detachPcb(bool abort) {
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

void Conn::onPcbError(err_t err) {
  pcb_ = nullptr;  // lwIP has freed it
  unqueue(queued_);
  if (phase_ == Phase::CONNECTING) {
    return dialFailed(err == ERR_RST ? ECONNREFUSED : EHOSTUNREACH,
                      err == ERR_RST ? "connection refused" : "connection failed");
  }
  // Reset by the peer: reset the local side too.
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  finish(false);
}

err_t Conn::onRecv(struct pbuf* p) {
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
void Conn::flushToLocal() {
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
void Conn::pumpToTailnet() {
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

void Conn::maybeDone() {
  if (phase_ == Phase::BRIDGE && localShut_ && tailnetShut_ && !toLocal_ && stash_.empty()) finish(false);
}

void Conn::abortBoth() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  detachPcb(true);
  finish(false);
}

void Conn::finish(bool abortPcb) {
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

}  // namespace tnet::netstack
