#include "services/netstackd/core/route.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace tnet::netstack::route {

void TailnetAddrs::add(const Addr& a) {
  addrs_.insert(unmap(a));
}

bool TailnetAddrs::contains(const Addr& a) const {
  return addrs_.count(unmap(a)) != 0;
}

Addr unmap(const Addr& a) {
  if (!a.v6) return a;
  static constexpr uint8_t PREFIX[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes.data(), PREFIX, 12) != 0) return a;
  return Addr::v4(a.bytes[12], a.bytes[13], a.bytes[14], a.bytes[15]);
}

bool isQuad100(const Addr& a) {
  Addr u = unmap(a);
  if (!u.v6) return u == Addr::v4(100, 100, 100, 100);
  static constexpr uint8_t V6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
  return std::memcmp(u.bytes.data(), V6, 16) == 0;
}

Via classify(const Addr& dst, const TailnetAddrs& tailnet) {
  if (isQuad100(dst)) return Via::QUAD100;
  if (tailnet.contains(dst)) return Via::TAILNET;
  return Via::OS;
}

uint8_t socksReplyFor(int err) {
  switch (err) {
    case ECONNREFUSED:
      return 0x05;
    case ENETUNREACH:
    case ENETDOWN:
      return 0x03;
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case ETIMEDOUT:
      return 0x04;
    default:
      return 0x01;
  }
}

std::string hostPort(const Addr& a, uint16_t port) {
  if (!a.v6) return a.toString() + ":" + std::to_string(port);
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);  // RFC 5952 form, as Go prints it
  return "[" + std::string(buf) + "]:" + std::to_string(port);
}

namespace {
// Go prints syscall errors in lower case ("connection refused").
std::string lowerFirst(std::string s) {
  if (!s.empty()) s[0] = char(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}
}  // namespace

std::string dialErrorText(const std::string& network, const Addr& a, uint16_t port, int err) {
  std::string head = "dial " + network + " " + hostPort(a, port) + ": ";
  if (err == ETIMEDOUT) return head + "i/o timeout";
  return head + "connect: " + lowerFirst(std::strerror(err));
}

std::string lookupErrorText(const std::string& host, int gaiError) {
  std::string head = "lookup " + host + ": ";
  if (gaiError == EAI_NONAME || gaiError == EAI_NODATA) return head + "no such host";
  if (gaiError == EAI_AGAIN) return head + "temporary failure in name resolution";
  return head + lowerFirst(gai_strerror(gaiError));
}

}  // namespace tnet::netstack::route
