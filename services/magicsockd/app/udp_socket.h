// One non-blocking UDP socket of magicsock (Go binds one per family on the same port), with
// batched I/O: recvmmsg into preallocated slots, sendmmsg from a small staging batch. Datagrams
// larger than a slot are dropped and counted (MSG_TRUNC), never delivered cut short.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/wire/disco_endpoint.h"

namespace tnet::magicsockd {

enum class Family { V4, V6 };

struct UdpStats {
  uint64_t rxPackets = 0;
  uint64_t rxBatches = 0;
  uint64_t rxTruncated = 0;
  uint64_t txPackets = 0;
  uint64_t txBatches = 0;
  uint64_t txErrors = 0;  // dropped: EAGAIN, unreachable, wrong family
};

wire::IpPort fromSockaddr(const sockaddr_storage& ss);
// false when `addr` cannot be sent on a socket of `family` (IPv6 target on the v4 socket).
bool toSockaddr(const wire::IpPort& addr, Family family, sockaddr_storage& out, socklen_t& len);

class UdpSocket {
 public:
  static constexpr size_t SLOT_BYTES = 2048;  // WireGuard datagrams are ≤ 1500 + 80 on Tailscale
  static constexpr size_t BATCH = 64;

  UdpSocket() = default;
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  // Binds the wildcard address of `family` on `port`; if that port is taken, falls back to an
  // ephemeral one (as Go does). `port` 0 means ephemeral. IPv6 sockets are V6ONLY.
  Result<void> open(Family family, uint16_t port, bool loopbackOnly = false);
  bool isOpen() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  Family family() const { return family_; }
  uint16_t port() const { return port_; }

  // Reads up to BATCH datagrams; calls `onDatagram` for each. Returns the number read (0: drained).
  using DatagramFn = std::function<void(const wire::IpPort& from, ByteSpan datagram)>;
  size_t receiveBatch(const DatagramFn& onDatagram);

  // Stages one datagram (copied); sends when the batch is full. flush() sends what is staged.
  void queue(const wire::IpPort& to, ByteSpan datagram);
  void flush();
  // One datagram now (disco, STUN): staged then flushed.
  void sendNow(const wire::IpPort& to, ByteSpan datagram) {
    queue(to, datagram);
    flush();
  }
  // For the benchmark: one datagram per syscall in both directions when false.
  void setBatching(bool on) { batching_ = on; }

  const UdpStats& stats() const { return stats_; }

 private:
  int fd_ = -1;
  Family family_ = Family::V4;
  uint16_t port_ = 0;
  bool batching_ = true;
  UdpStats stats_;
  std::vector<uint8_t> rxBuf_;
  std::vector<uint8_t> txBuf_;
  std::array<size_t, BATCH> txLen_{};
  std::array<sockaddr_storage, BATCH> txAddr_{};
  std::array<socklen_t, BATCH> txAddrLen_{};
  size_t txCount_ = 0;
};

}  // namespace tnet::magicsockd
