// Conversions between Addr and the two forms the engine passes addresses in: lwIP's ip_addr_t and
// the sockets API's sockaddr (with a port).
#pragma once

#include <sys/socket.h>

#include <cstdint>

#include "lwip/ip_addr.h"
#include "services/netstackd/core/packet.h"

namespace tnet::netstack {

ip_addr_t toLwip(const Addr& a);
Addr fromLwip(const ip_addr_t* a);
// Fills `ss` and returns the length to pass with it.
socklen_t toSockaddr(const Addr& a, uint16_t port, sockaddr_storage& ss);
// False for a family other than IPv4/IPv6.
bool fromSockaddr(const sockaddr_storage& ss, Addr& a, uint16_t& port);

}  // namespace tnet::netstack
