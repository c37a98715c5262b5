// SOCKS5 (RFC 1928) wire format for netstackd's proxy, as Go's net/socks5 serves it: no
// authentication, CONNECT and UDP ASSOCIATE (BIND is refused). Parses untrusted bytes from local
// applications incrementally: NEED_MORE until a whole message is buffered (fuzzed).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "services/netstackd/core/packet.h"

namespace tnet::netstack::socks5 {

inline constexpr uint8_t VERSION = 5;
inline constexpr uint8_t METHOD_NO_AUTH = 0x00, METHOD_NONE_ACCEPTABLE = 0xff;
inline constexpr uint8_t CMD_CONNECT = 1, CMD_BIND = 2, CMD_UDP_ASSOCIATE = 3;
inline constexpr uint8_t ATYP_IPV4 = 1, ATYP_DOMAIN = 3, ATYP_IPV6 = 4;
// Reply codes.
inline constexpr uint8_t REP_SUCCEEDED = 0, REP_GENERAL_FAILURE = 1, REP_NOT_ALLOWED = 2,
                         REP_NETWORK_UNREACHABLE = 3, REP_HOST_UNREACHABLE = 4, REP_CONNECTION_REFUSED = 5,
                         REP_TTL_EXPIRED = 6, REP_COMMAND_NOT_SUPPORTED = 7, REP_ADDRESS_NOT_SUPPORTED = 8;

enum class Status { NEED_MORE, OK, FAIL };

struct Target {
  bool isDomain = false;
  Addr addr;           // when !isDomain
  std::string domain;  // when isDomain (1..255 bytes, no NUL)
  uint16_t port = 0;
  std::string toString() const;  // "host:port", "[v6]:port"
};

struct Greeting {
  Status status = Status::NEED_MORE;
  bool noAuthOffered = false;
  size_t consumed = 0;
};
Greeting parseGreeting(std::span<const uint8_t> in);

struct Request {
  Status status = Status::NEED_MORE;
  uint8_t command = 0;
  Target target;
  size_t consumed = 0;
  uint8_t failReply = REP_GENERAL_FAILURE;  // what to answer when status == FAIL
  const char* error = "";
};
Request parseRequest(std::span<const uint8_t> in);

// VER REP RSV ATYP BND.ADDR BND.PORT
std::vector<uint8_t> buildReply(uint8_t rep, const Addr& bindAddr, uint16_t bindPort);

// UDP ASSOCIATE datagrams: RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA.
struct UdpHeader {
  Status status = Status::FAIL;  // OK or FAIL (a datagram is complete or not at all)
  uint8_t frag = 0;
  Target target;
  size_t headerLen = 0;
  const char* error = "";
};
UdpHeader parseUdpHeader(std::span<const uint8_t> datagram);
void appendUdpHeader(std::vector<uint8_t>& out, const Addr& addr, uint16_t port);
// For a reply to a datagram that named its target (Go's server repeats the target it was given).
void appendUdpHeader(std::vector<uint8_t>& out, const std::string& domain, uint16_t port);

}  // namespace tnet::netstack::socks5
