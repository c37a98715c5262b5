// Conn's quad-100 target: MagicDNS over TCP (port 53) answered in-process.
#include <unistd.h>

#include <cerrno>

#include "services/netstackd/app/tcp_conn.h"
#include "services/netstackd/core/dns.h"
#include "services/netstackd/core/http_proxy.h"
#include "services/netstackd/core/socks5.h"

namespace tnet::netstack {

// quad-100 is terminated here: TCP 53 is MagicDNS over TCP; any other port is refused (Go: RST).
void Conn::connectQuad100(const Addr& q, uint16_t port) {
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
void Conn::serveDnsTcp() {
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

}  // namespace tnet::netstack
