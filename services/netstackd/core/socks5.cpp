#include "services/netstackd/core/socks5.h"

#include <algorithm>

#include "libs/base/bytes.h"

namespace tnet::netstack::socks5 {

std::string Target::toString() const {
  std::string host = isDomain ? domain : addr.toString();
  if (!isDomain && addr.v6) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

Greeting parseGreeting(std::span<const uint8_t> in) {
  Greeting g;
  if (in.size() < 2) return g;
  if (in[0] != VERSION) {
    g.status = Status::FAIL;
    return g;
  }
  size_t n = in[1];
  if (in.size() < 2 + n) return g;
  g.noAuthOffered =
      std::find(in.begin() + 2, in.begin() + 2 + long(n), METHOD_NO_AUTH) != in.begin() + 2 + long(n);
  g.consumed = 2 + n;
  g.status = Status::OK;
  return g;
}

namespace {

// Parses ATYP ADDR PORT at `in`; returns bytes used, 0 when more are needed, -1 on bad ATYP,
// -2 on a bad domain.
long parseTarget(std::span<const uint8_t> in, Target& t) {
  if (in.empty()) return 0;
  switch (in[0]) {
    case ATYP_IPV4:
      if (in.size() < 1 + 4 + 2) return 0;
      t.isDomain = false;
      t.addr = Addr{};
      std::copy(in.begin() + 1, in.begin() + 5, t.addr.bytes.begin());
      t.port = getU16BE(&in[5]);
      return 7;
    case ATYP_IPV6:
      if (in.size() < 1 + 16 + 2) return 0;
      t.isDomain = false;
      t.addr = Addr{};
      t.addr.v6 = true;
      std::copy(in.begin() + 1, in.begin() + 17, t.addr.bytes.begin());
      t.port = getU16BE(&in[17]);
      return 19;
    case ATYP_DOMAIN: {
      if (in.size() < 2) return 0;
      size_t len = in[1];
      if (in.size() < 2 + len + 2) return 0;
      if (len == 0) return -2;
      t.isDomain = true;
      t.domain.assign(reinterpret_cast<const char*>(&in[2]), len);
      if (t.domain.find('\0') != std::string::npos) return -2;
      t.port = getU16BE(&in[2 + len]);
      return long(2 + len + 2);
    }
    default:
      return -1;
  }
}

}  // namespace

Request parseRequest(std::span<const uint8_t> in) {
  Request r;
  if (in.size() < 4) return r;
  if (in[0] != VERSION) {
    r.status = Status::FAIL;
    r.error = "bad version";
    return r;
  }
  r.command = in[1];
  long used = parseTarget(in.subspan(3), r.target);
  if (used == 0) return r;
  if (used < 0) {
    r.status = Status::FAIL;
    r.failReply = used == -1 ? REP_ADDRESS_NOT_SUPPORTED : REP_GENERAL_FAILURE;
    r.error = used == -1 ? "unsupported address type" : "bad domain name";
    return r;
  }
  r.consumed = 3 + size_t(used);
  if (r.command != CMD_CONNECT && r.command != CMD_UDP_ASSOCIATE) {
    r.status = Status::FAIL;
    r.failReply = REP_COMMAND_NOT_SUPPORTED;
    r.error = "unsupported command";
    return r;
  }
  r.status = Status::OK;
  return r;
}

namespace {
void appendAddr(std::vector<uint8_t>& out, const Addr& a, uint16_t port) {
  out.push_back(a.v6 ? ATYP_IPV6 : ATYP_IPV4);
  out.insert(out.end(), a.bytes.begin(), a.bytes.begin() + (a.v6 ? 16 : 4));
  out.push_back(uint8_t(port >> 8));
  out.push_back(uint8_t(port));
}
}  // namespace

std::vector<uint8_t> buildReply(uint8_t rep, const Addr& bindAddr, uint16_t bindPort) {
  std::vector<uint8_t> out{VERSION, rep, 0};
  appendAddr(out, bindAddr, bindPort);
  return out;
}

UdpHeader parseUdpHeader(std::span<const uint8_t> d) {
  UdpHeader h;
  if (d.size() < 4) {
    h.error = "short datagram";
    return h;
  }
  if (d[0] != 0 || d[1] != 0) {
    h.error = "reserved bytes not zero";
    return h;
  }
  h.frag = d[2];
  long used = parseTarget(d.subspan(3), h.target);
  if (used <= 0) {
    h.error = used == 0 ? "short datagram" : "bad address";
    return h;
  }
  h.headerLen = 3 + size_t(used);
  h.status = Status::OK;
  return h;
}

void appendUdpHeader(std::vector<uint8_t>& out, const Addr& addr, uint16_t port) {
  out.insert(out.end(), {0, 0, 0});
  appendAddr(out, addr, port);
}

void appendUdpHeader(std::vector<uint8_t>& out, const std::string& domain, uint16_t port) {
  out.insert(out.end(), {0, 0, 0, ATYP_DOMAIN, uint8_t(std::min<size_t>(domain.size(), 255))});
  out.insert(out.end(), domain.begin(), domain.begin() + long(std::min<size_t>(domain.size(), 255)));
  out.push_back(uint8_t(port >> 8));
  out.push_back(uint8_t(port));
}

}  // namespace tnet::netstack::socks5
