#include "services/magicsockd/app/udp_socket.h"

#include <arpa/inet.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tnet::magicsockd {

wire::IpPort fromSockaddr(const sockaddr_storage& ss) {
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

bool toSockaddr(const wire::IpPort& addr, Family family, sockaddr_storage& out, socklen_t& len) {
  std::memset(&out, 0, sizeof out);
  if (family == Family::V4) {
    if (!addr.is4()) return false;
    auto* a = reinterpret_cast<sockaddr_in*>(&out);
    a->sin_family = AF_INET;
    a->sin_port = htons(addr.port);
    auto b = addr.v4Bytes();
    std::memcpy(&a->sin_addr, b.data(), 4);
    len = sizeof(sockaddr_in);
    return true;
  }
  if (addr.is4()) return false;  // V6ONLY socket
  auto* a = reinterpret_cast<sockaddr_in6*>(&out);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(addr.port);
  std::memcpy(&a->sin6_addr, addr.ip16.data(), 16);
  len = sizeof(sockaddr_in6);
  return true;
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) close(fd_);
}

Result<void> UdpSocket::open(Family family, uint16_t port, bool loopbackOnly) {
  family_ = family;
  int af = family == Family::V4 ? AF_INET : AF_INET6;
  auto tryBind = [&](uint16_t p) -> int {
    int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (af == AF_INET6) {
      int one = 1;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    int buf = 7 << 20;  // Go asks for 7 MiB socket buffers; the kernel caps it at rmem_max
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (af == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(p);
      a->sin_addr.s_addr = loopbackOnly ? htonl(INADDR_LOOPBACK) : htonl(INADDR_ANY);
      len = sizeof(sockaddr_in);
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(p);
      a->sin6_addr = loopbackOnly ? in6addr_loopback : in6addr_any;
      len = sizeof(sockaddr_in6);
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    return fd;
  };
  int fd = tryBind(port);
  if (fd < 0 && port != 0 && errno == EADDRINUSE) fd = tryBind(0);
  if (fd < 0) return Error::failed(std::string("udp bind: ") + std::strerror(errno));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  fd_ = fd;
  port_ = fromSockaddr(ss).port;
  rxBuf_.resize(SLOT_BYTES * BATCH);
  txBuf_.resize(SLOT_BYTES * BATCH);
  return {};
}

size_t UdpSocket::receiveBatch(const DatagramFn& onDatagram) {
  std::array<mmsghdr, BATCH> msgs{};
  std::array<iovec, BATCH> iov{};
  std::array<sockaddr_storage, BATCH> from{};
  for (size_t i = 0; i < BATCH; ++i) {
    iov[i] = {rxBuf_.data() + i * SLOT_BYTES, SLOT_BYTES};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
  }
  int n = recvmmsg(fd_, msgs.data(), batching_ ? BATCH : 1, MSG_DONTWAIT, nullptr);
  if (n <= 0) return 0;
  stats_.rxBatches++;
  for (int i = 0; i < n; ++i) {
    if (msgs[size_t(i)].msg_hdr.msg_flags & MSG_TRUNC) {
      stats_.rxTruncated++;
      continue;
    }
    stats_.rxPackets++;
    onDatagram(fromSockaddr(from[size_t(i)]),
               ByteSpan(rxBuf_.data() + size_t(i) * SLOT_BYTES, msgs[size_t(i)].msg_len));
  }
  return size_t(n);
}

void UdpSocket::queue(const wire::IpPort& to, ByteSpan datagram) {
  if (fd_ < 0 || datagram.size() > SLOT_BYTES ||
      !toSockaddr(to, family_, txAddr_[txCount_], txAddrLen_[txCount_])) {
    stats_.txErrors++;
    return;
  }
  std::memcpy(txBuf_.data() + txCount_ * SLOT_BYTES, datagram.data(), datagram.size());
  txLen_[txCount_] = datagram.size();
  if (++txCount_ == BATCH || !batching_) flush();
}

void UdpSocket::flush() {
  if (txCount_ == 0) return;
  std::array<mmsghdr, BATCH> msgs{};
  std::array<iovec, BATCH> iov{};
  for (size_t i = 0; i < txCount_; ++i) {
    iov[i] = {txBuf_.data() + i * SLOT_BYTES, txLen_[i]};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &txAddr_[i];
    msgs[i].msg_hdr.msg_namelen = txAddrLen_[i];
  }
  size_t off = 0;
  stats_.txBatches++;
  while (off < txCount_) {
    int n = sendmmsg(fd_, msgs.data() + off, unsigned(txCount_ - off), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      // The first datagram failed (EAGAIN, unreachable, EPERM from a firewall): drop it and go on.
      stats_.txErrors++;
      off++;
      continue;
    }
    stats_.txPackets += uint64_t(n);
    off += size_t(n);
  }
  txCount_ = 0;
}

}  // namespace tnet::magicsockd
