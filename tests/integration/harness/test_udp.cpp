// tnet-test-udp: one UDP request/response through a SOCKS5 proxy's UDP ASSOCIATE (RFC 1928 §7),
// the way a local application sends UDP into the tailnet through netstackd:
//   tnet-test-udp --socks5 127.0.0.1:1080 --to 100.64.0.2:9000 [--message TEXT]
//                 [--timeout-ms 3000] [--interval-ms 250]
// It opens the association, then sends the datagram every --interval-ms (the first ones may be
// queued while WireGuard handshakes) until a reply arrives or --timeout-ms passes.
// Exit status: 0 = a reply arrived (its payload is printed on stdout, then a newline; the source
// address on stderr), 1 = no reply in time (a filtered or silent peer), 2 = usage or proxy error
// (so a test that expects "blocked" can tell a block from a broken proxy).
// Each run is a new association, so the proxy sends from a new source port: a peer's connection
// tracking never mistakes it for a reply to an earlier flow.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// "1.2.3.4:5" or "[v6]:5".
bool parseEndpoint(const std::string& text, Endpoint& out) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = text.substr(0, colon);
  char* end = nullptr;
  long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535 || colon + 1 == text.size()) return false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out.addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(uint16_t(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a->sin6_addr) != 1) return false;
    out.len = sizeof(sockaddr_in6);
    return true;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(&out.addr);
  a->sin_family = AF_INET;
  a->sin_port = htons(uint16_t(port));
  if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return false;
  out.len = sizeof(sockaddr_in);
  return true;
}

// SOCKS5 address: ATYP, address, port (network order).
void appendAddress(std::vector<uint8_t>& out, const Endpoint& e) {
  if (e.addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&e.addr);
    out.push_back(0x01);
    const auto* b = reinterpret_cast<const uint8_t*>(&a->sin_addr);
    out.insert(out.end(), b, b + 4);
    const auto* p = reinterpret_cast<const uint8_t*>(&a->sin_port);
    out.insert(out.end(), p, p + 2);
  } else {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&e.addr);
    out.push_back(0x04);
    const auto* b = reinterpret_cast<const uint8_t*>(&a->sin6_addr);
    out.insert(out.end(), b, b + 16);
    const auto* p = reinterpret_cast<const uint8_t*>(&a->sin6_port);
    out.insert(out.end(), p, p + 2);
  }
}

// Reads an ATYP-prefixed address at `in[off]` into `out`; returns the offset after it, or 0.
size_t readAddress(const uint8_t* in, size_t n, size_t off, Endpoint& out) {
  if (off >= n) return 0;
  uint8_t atyp = in[off++];
  if (atyp == 0x01 && off + 6 <= n) {
    auto* a = reinterpret_cast<sockaddr_in*>(&out.addr);
    a->sin_family = AF_INET;
    std::memcpy(&a->sin_addr, in + off, 4);
    std::memcpy(&a->sin_port, in + off + 4, 2);
    out.len = sizeof(sockaddr_in);
    return off + 6;
  }
  if (atyp == 0x04 && off + 18 <= n) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out.addr);
    a->sin6_family = AF_INET6;
    std::memcpy(&a->sin6_addr, in + off, 16);
    std::memcpy(&a->sin6_port, in + off + 16, 2);
    out.len = sizeof(sockaddr_in6);
    return off + 18;
  }
  return 0;
}

std::string toText(const Endpoint& e) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (e.addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&e.addr);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&e.addr);
  inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
  port = ntohs(a->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

// Reads exactly n bytes from the proxy (blocking, bounded by a poll timeout).
bool readExactly(int fd, uint8_t* out, size_t n, int timeoutMs) {
  size_t got = 0;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeoutMs) <= 0) return false;
    ssize_t r = recv(fd, out + got, n - got, 0);
    if (r <= 0) return false;
    got += size_t(r);
  }
  return true;
}

int fail(const char* what) {
  std::fprintf(stderr, "tnet-test-udp: %s\n", what);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string socks, to, message = "ping";
  long timeoutMs = 3000, intervalMs = 250;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--socks5")
      socks = argv[i + 1];
    else if (k == "--to")
      to = argv[i + 1];
    else if (k == "--message")
      message = argv[i + 1];
    else if (k == "--timeout-ms")
      timeoutMs = std::atol(argv[i + 1]);
    else if (k == "--interval-ms")
      intervalMs = std::atol(argv[i + 1]);
    else
      return fail("usage: --socks5 IP:PORT --to IP:PORT [--message TEXT] [--timeout-ms N] [--interval-ms N]");
  }
  if (argc % 2 == 0) return fail("every flag takes a value");
  Endpoint proxy, target;
  if (!parseEndpoint(socks, proxy)) return fail("--socks5 must be IP:PORT or [IPv6]:PORT");
  if (!parseEndpoint(to, target)) return fail("--to must be IP:PORT or [IPv6]:PORT");
  if (timeoutMs <= 0 || intervalMs <= 0) return fail("timeouts must be positive");

  int ctl = socket(proxy.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ctl < 0 || connect(ctl, reinterpret_cast<sockaddr*>(&proxy.addr), proxy.len) != 0) {
    return fail(("cannot connect to the SOCKS5 proxy at " + socks + ": " + std::strerror(errno)).c_str());
  }
  const uint8_t greeting[] = {0x05, 0x01, 0x00};
  uint8_t choice[2];
  if (send(ctl, greeting, sizeof greeting, MSG_NOSIGNAL) != ssize_t(sizeof greeting) ||
      !readExactly(ctl, choice, 2, 5000) || choice[0] != 0x05 || choice[1] != 0x00) {
    return fail("the proxy did not accept SOCKS5 without authentication");
  }
  // UDP ASSOCIATE from an unknown client address (0.0.0.0:0, RFC 1928 §7).
  const uint8_t request[] = {0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0};
  uint8_t head[4];
  if (send(ctl, request, sizeof request, MSG_NOSIGNAL) != ssize_t(sizeof request) ||
      !readExactly(ctl, head, 4, 5000)) {
    return fail("no reply to UDP ASSOCIATE");
  }
  if (head[0] != 0x05 || head[1] != 0x00) {
    return fail(("UDP ASSOCIATE refused, reply code " + std::to_string(head[1])).c_str());
  }
  uint8_t bound[19] = {head[3]};
  size_t rest = head[3] == 0x01 ? 6 : head[3] == 0x04 ? 18 : 0;
  if (rest == 0 || !readExactly(ctl, bound + 1, rest, 5000)) return fail("bad UDP ASSOCIATE reply address");
  Endpoint relay;
  if (readAddress(bound, rest + 1, 0, relay) == 0) return fail("bad UDP ASSOCIATE reply address");

  int udp = socket(relay.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (udp < 0) return fail("cannot open a UDP socket");
  std::vector<uint8_t> datagram = {0x00, 0x00, 0x00};  // RSV, FRAG 0
  appendAddress(datagram, target);
  datagram.insert(datagram.end(), message.begin(), message.end());

  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    if (sendto(udp, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&relay.addr),
               relay.len) < 0) {
      return fail(("sendto the relay failed: " + std::string(std::strerror(errno))).c_str());
    }
    auto resend = std::chrono::steady_clock::now() + std::chrono::milliseconds(intervalMs);
    while (true) {
      auto now = std::chrono::steady_clock::now();
      auto until = std::min(resend, deadline);
      if (now >= until) break;
      int wait = int(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()) + 1;
      pollfd p[2] = {{udp, POLLIN, 0}, {ctl, POLLIN, 0}};
      if (poll(p, 2, wait) <= 0) continue;
      if (p[1].revents != 0) {
        char b;
        if (recv(ctl, &b, 1, MSG_DONTWAIT) <= 0) return fail("the proxy closed the association");
      }
      if (!(p[0].revents & POLLIN)) continue;
      uint8_t in[65536];
      ssize_t n = recv(udp, in, sizeof in, 0);
      if (n < 4 || in[2] != 0x00) continue;  // too short, or a fragment
      Endpoint from;
      size_t off = readAddress(in, size_t(n), 3, from);
      if (off == 0) continue;
      std::fwrite(in + off, 1, size_t(n) - off, stdout);
      std::fputc('\n', stdout);
      std::fprintf(stderr, "tnet-test-udp: reply from %s\n", toText(from).c_str());
      return 0;
    }
  }
  std::fprintf(stderr, "tnet-test-udp: no reply from %s within %ld ms\n", to.c_str(), timeoutMs);
  return 1;
}
