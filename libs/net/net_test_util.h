// Test helpers for libs/net: a blocking POSIX socket peer for raw protocol tests (run it on a
// std::thread while the test drives the loop), and the loop driver from libs/bus.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "libs/base/bytes.h"
#include "libs/bus/bus_test_util.h"

namespace tnet::net::testing {

using bus::testing::runUntil;
using bus::testing::scaled;

// A connected blocking TCP socket with timeouts on every call.
class RawSocket {
 public:
  RawSocket() = default;
  explicit RawSocket(int fd) : fd_(fd) {}
  RawSocket(RawSocket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RawSocket& operator=(RawSocket&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }

  static RawSocket connectLoopback(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return RawSocket();
    }
    return RawSocket(fd);
  }

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  bool writeAll(const void* p, size_t n) {
    auto* c = static_cast<const char*>(p);
    while (n > 0) {
      ssize_t w = ::send(fd_, c, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      c += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  bool writeAll(std::string_view s) { return writeAll(s.data(), s.size()); }
  bool writeAll(ByteSpan b) { return writeAll(b.data(), b.size()); }

  // Appends what arrives within `timeout` (returns early at EOF or once `until` bytes are in).
  // False on EOF/error.
  bool readSome(std::string& out, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(scaled(timeout).count())) <= 0) return false;
    char buf[65536];
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r <= 0) return false;
    out.append(buf, static_cast<size_t>(r));
    return true;
  }
  // Reads until `pred(out)` or EOF/timeout. Returns whether pred held.
  template <typename Pred>
  bool readUntil(std::string& out, Pred pred,
                 std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    auto end = std::chrono::steady_clock::now() + scaled(timeout);
    while (!pred(out)) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      if (!readSome(out, left)) return pred(out);
    }
    return true;
  }
  // True when the peer closed (EOF or reset) within `timeout`; bytes read meanwhile are dropped.
  bool waitClosed(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
    auto end = std::chrono::steady_clock::now() + scaled(timeout);
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
      if (r <= 0) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

// A listening loopback socket for fake servers.
class RawListener {
 public:
  RawListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~RawListener() { ::close(fd_); }
  uint16_t port() const { return port_; }
  RawSocket accept(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(scaled(timeout).count())) <= 0) return RawSocket();
    return RawSocket(::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC));
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A loopback port with nothing listening (bound, then closed): connecting is refused at once.
inline uint16_t closedPort() {
  RawListener l;
  return l.port();
}

inline std::string bytesToString(ByteSpan b) {
  return std::string(b.begin(), b.end());
}
inline Bytes stringToBytes(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

}  // namespace tnet::net::testing
