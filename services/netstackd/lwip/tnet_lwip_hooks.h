/* Hooks lwIP calls into netstackd (implemented in C++ with C linkage: lwip_port.cpp). */
#ifndef TNET_LWIP_HOOKS_H
#define TNET_LWIP_HOOKS_H

#include "lwip/arch.h"
#include "lwip/ip_addr.h"

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 6528: a 4 µs clock plus a keyed hash of the connection's addresses and ports. */
u32_t tnet_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port, const ip_addr_t* remote_ip,
                        u16_t remote_port);


#ifdef __cplusplus
}
#endif

#endif
