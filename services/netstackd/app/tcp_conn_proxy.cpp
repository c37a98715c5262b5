// Conn's proxy request: the SOCKS5 greeting/request or HTTP head, then where the target goes (Go's
// UserDial), and the replies for failures; SOCKS5 UDP ASSOCIATE hands over to a UdpAssoc.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "libs/log/log.h"
#include "services/netstackd/app/addr_convert.h"
#include "services/netstackd/app/tcp_conn.h"
#include "services/netstackd/core/http_proxy.h"
#include "services/netstackd/core/route.h"
#include "services/netstackd/core/socks5.h"

namespace tnet::netstack {

namespace {

// Go's SOCKS5 server gives a dial (resolution included) 5 s; its HTTP proxy sets no deadline.
constexpr std::chrono::seconds SOCKS_DIAL_TIMEOUT{5};

}  // namespace

void Conn::readHandshake() {
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

void Conn::advanceHandshake() {
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
void Conn::socksFail(uint8_t why) {
  uint8_t rep = why == socks5::REP_COMMAND_NOT_SUPPORTED ? why : socks5::REP_GENERAL_FAILURE;
  auto reply = socks5::buildReply(rep, Addr{}, 0);
  writeLocal(reply.data(), reply.size());
  finish(false);
}

void Conn::httpFail(int status, const std::string& error) {
  auto resp = http::buildResponse(status, error);
  writeLocal(resp.data(), resp.size());
  finish(false);
}

void Conn::connectName(std::string host, uint16_t port) {
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

void Conn::onResolved(HostResolver::Answer answer) {
  if (phase_ != Phase::RESOLVING) return;
  if (answer.gaiError) return dialFailed(EHOSTUNREACH, route::lookupErrorText(target_, answer.gaiError));
  // Go classifies each resolved address; the first one decides here, and an OS dial races only
  // the addresses that are not the tailnet's.
  auto via = route::classify(answer.addrs.front(), e_.tailnetAddrs());
  if (via != route::Via::OS) return connectAddr(answer.addrs.front(), targetPort_);
  std::vector<Addr> os;
  for (const auto& a : answer.addrs)
    if (route::classify(a, e_.tailnetAddrs()) == route::Via::OS) os.push_back(a);
  osDial(std::move(os), targetPort_);
}

void Conn::connectAddr(Addr a, uint16_t port) {
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

void Conn::onDialTimeout() {
  if (phase_ != Phase::RESOLVING && phase_ != Phase::OS_CONNECTING && phase_ != Phase::CONNECTING) return;
  osDial_.reset();
  if (phase_ == Phase::CONNECTING) return;  // the tailnet path keeps lwIP's own SYN retries
  dialFailed(ETIMEDOUT, "dial tcp " + (target_.empty() ? std::string("target") : target_) + ": i/o timeout");
}

// Go: SOCKS5 replies with a code; the HTTP proxy's CONNECT answers 500 with the error in
// Tailscale-Connect-Error and the body; an absolute-URI request (Go's ReverseProxy) 502 empty.
void Conn::dialFailed(int err, const std::string& text) {
  osDial_.reset();
  // The client of a SOCKS5 proxy learns only "general failure" (Go's server): the log says why,
  // as Go's "client connection failed" line does.
  log::logger().info("proxy.dial_failed proxy={} err={}", kind_ == Kind::SOCKS5 ? "socks5" : "http",
                     log::quote(text));
  if (kind_ == Kind::SOCKS5) return socksFail(route::socksReplyFor(err));
  if (httpConnect_) return httpFail(500, text);
  auto resp = http::buildBadGateway();
  writeLocal(resp.data(), resp.size());
  finish(false);
}

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

}  // namespace tnet::netstack
