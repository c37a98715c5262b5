#include "services/netstackd/app/udp_assoc.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "services/netstackd/app/addr_convert.h"
#include "services/netstackd/core/dns.h"
#include "services/netstackd/core/route.h"
#include "services/netstackd/core/socks5.h"

namespace tnet::netstack {

UdpAssoc::UdpAssoc(Engine& e, int fd, Conn* control) : e_(e), fd_(fd), control_(control) {
  token_ = e_.poller().add(fd_, EPOLLIN, [this](uint32_t) { onLocal(); });
}

UdpAssoc::~UdpAssoc() {
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

bool UdpAssoc::ensurePcb(bool v6) {
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

void UdpAssoc::onLocal() {
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
void UdpAssoc::sendTo(Addr dst, uint16_t port, std::span<const uint8_t> payload, const std::string& name) {
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

void UdpAssoc::sendOs(const Addr& dst, uint16_t port, std::span<const uint8_t> payload,
                      const std::string& name) {
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

void UdpAssoc::onOsReply(const std::tuple<Addr, uint16_t, std::string>& key) {
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
void UdpAssoc::sendToName(const std::string& name, uint16_t port, std::span<const uint8_t> payload) {
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

void UdpAssoc::onNameResolved(const std::string& name, HostResolver::Answer answer) {
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

void UdpAssoc::onTailnet(struct pbuf* p, const Addr& from, uint16_t port) {
  std::vector<uint8_t> payload(p->tot_len);
  pbuf_copy_partial(p, payload.data(), p->tot_len, 0);
  pbuf_free(p);
  replyToClient(from, port, payload);
}

void UdpAssoc::replyToClient(const Addr& from, uint16_t port, std::span<const uint8_t> payload) {
  std::vector<uint8_t> d;
  socks5::appendUdpHeader(d, from, port);
  d.insert(d.end(), payload.begin(), payload.end());
  sendToClient(d);
}

void UdpAssoc::sendToClient(const std::vector<uint8_t>& d) {
  if (!haveClient_) return;
  sendto(fd_, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&client_), clientLen_);
}

}  // namespace tnet::netstack
