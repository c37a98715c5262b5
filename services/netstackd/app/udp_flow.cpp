#include "services/netstackd/app/udp_flow.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "lwip/icmp.h"

namespace tnet::netstack {

std::vector<uint8_t> icmp6PortUnreachable(std::span<const uint8_t> original);

UdpFlow::UdpFlow(Engine& e, int fd, struct udp_pcb* pcb, std::vector<uint8_t> first, bool v6)
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

UdpFlow::~UdpFlow() {
  udp_remove(pcb_);
  if (token_) e_.poller().remove(token_);
  close(fd_);
}

void UdpFlow::onTailnet(struct pbuf* p) {
  uint8_t buf[65536];
  u16_t n = pbuf_copy_partial(p, buf, p->tot_len, 0);
  pbuf_free(p);
  lastUsed = e_.loop().now();
  send(fd_, buf, n, MSG_NOSIGNAL);
}

void UdpFlow::onLocal() {
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
void UdpFlow::refused() {
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

}  // namespace tnet::netstack
