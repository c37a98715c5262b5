// Conn's OS path: a target outside the tailnet is dialled with the host's network stack
// (OsConnector) and spliced to the local client.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "services/netstackd/app/addr_convert.h"
#include "services/netstackd/app/tcp_conn.h"
#include "services/netstackd/core/http_proxy.h"
#include "services/netstackd/core/socks5.h"

namespace tnet::netstack {

namespace {

// Each direction of an OS-dialled connection holds at most this much in netstackd; the rest
// waits in the kernel's socket buffers (backpressure by not reading).
constexpr size_t SPLICE_CHUNK = 64 * 1024;

}  // namespace

void Conn::osDial(std::vector<Addr> addrs, uint16_t port) {
  targetPort_ = port;
  phase_ = Phase::OS_CONNECTING;
  osDial_ = std::make_unique<OsConnector>(e_.loop(), e_.poller(), std::move(addrs), port,
                                          [this](OsConnector::Outcome o) { onOsDialed(o); });
}

void Conn::onOsDialed(OsConnector::Outcome o) {
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

bool Conn::pumpFlow(int from, int to, Flow& f) {
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

void Conn::pumpSplice() {
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

}  // namespace tnet::netstack
