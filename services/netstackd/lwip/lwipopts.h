/* netstackd's lwIP configuration (docs/netstack.md; BUILD-NOTES §lwIP). One stack per process,
 * NO_SYS: netstackd's event loop feeds packets in and drives sys_check_timeouts(). Memory comes
 * from malloc, so lwIP's own pool limits vanish: netstackd caps connections and buffered bytes. */
#ifndef TNET_LWIPOPTS_H
#define TNET_LWIPOPTS_H

#define NO_SYS 1
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_TIMERS 1
#define LWIP_SINGLE_NETIF 1
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_HAVE_LOOPIF 0

#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define LWIP_STATS 0

#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_IPV6_NUM_ADDRESSES 3
#define LWIP_IPV6_SCOPES 0
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_DHCP6 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_ND6_QUEUEING 0
/* Required on 64-bit: otherwise ip6_reass_tmr() asserts about a second after lwip_init(). */
#define IPV6_FRAG_COPYHEADER 1
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define IP_FORWARD 0
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define LWIP_IPV6_REASS 1
#define LWIP_IPV6_FRAG 1
#define LWIP_ICMP 1
#define LWIP_ICMP6 1
#define LWIP_RAW 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define LWIP_UDP 1
#define LWIP_TCP 1
#define SO_REUSE 1
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

/* TCP: MTU 1280 (Tailscale's TUN MTU) minus IPv4+TCP headers; IPv6 gets 1220 from the netif MTU. */
#define TCP_MSS 1240
#define TCP_CALCULATE_EFF_SEND_MSS 1
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 5
#define TCP_WND (1024 * 1024)
#define TCP_SND_BUF (1024 * 1024)
/* lwIP keeps the send low-water mark in a u16_t (must stay 4 MSS below overflow). */
#define TCP_SNDLOWAT 32768
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDQUEUELOWAT (TCP_SND_QUEUELEN / 2)
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 1
#define LWIP_TCP_MAX_SACK_NUM 4
#define LWIP_TCP_KEEPALIVE 1
#define TCP_LISTEN_BACKLOG 0
#define LWIP_CALLBACK_API 1
/* 20 ms instead of 250: delayed and gap-filling ACKs go out within ~40 ms. */
#define TCP_TMR_INTERVAL 20
#define MEMP_NUM_TCP_PCB 4096
#define MEMP_NUM_TCP_PCB_LISTEN 1024
#define MEMP_NUM_UDP_PCB 1024
#define MEMP_NUM_TCP_SEG 65535
#define MEMP_NUM_REASSDATA 64
#define MEMP_NUM_FRAG_PBUF 64
#define MEMP_NUM_SYS_TIMEOUT 16

#define LWIP_HOOK_FILENAME "tnet_lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
  tnet_lwip_tcp_isn(local_ip, local_port, remote_ip, remote_port)
#define LWIP_RAND() tnet_lwip_rand()

#endif
