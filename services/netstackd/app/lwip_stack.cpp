#include "services/netstackd/app/lwip_stack.h"

#include <cassert>
#include <cstring>

#include "lwip/init.h"
#include "lwip/ip.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"

namespace tnet::netstack {

namespace {

LwipStack* g_stack = nullptr;
struct netif g_netif;

void emitPbuf(struct pbuf* p) {
  uint8_t buf[65536];
  u16_t n = pbuf_copy_partial(p, buf, p->tot_len, 0);
  if (g_stack) g_stack->emit({buf, n});
}

err_t outputV4(struct netif*, struct pbuf* p, const ip4_addr_t*) {
  emitPbuf(p);
  return ERR_OK;
}

err_t outputV6(struct netif*, struct pbuf* p, const ip6_addr_t*) {
  emitPbuf(p);
  return ERR_OK;
}

err_t netifInit(struct netif* n) {
  n->name[0] = 't';
  n->name[1] = 's';
  n->mtu = LwipStack::MTU;
  n->output = outputV4;
  n->output_ip6 = outputV6;
  n->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
  NETIF_SET_CHECKSUM_CTRL(n, NETIF_CHECKSUM_ENABLE_ALL);
  return ERR_OK;
}

}  // namespace

LwipStack::LwipStack(bus::Loop& loop, Output output)
    : loop_(loop), output_(std::move(output)), netif_(&g_netif) {
  assert(g_stack == nullptr);
  static bool initialised = false;
  if (!initialised) {
    lwip_init();
    initialised = true;
  }
  g_stack = this;
  std::memset(&g_netif, 0, sizeof g_netif);
  netif_add_noaddr(&g_netif, nullptr, netifInit, ip_input);
  netif_set_default(&g_netif);
  netif_set_up(&g_netif);
  netif_set_link_up(&g_netif);
  kick();
}

LwipStack::~LwipStack() {
  timer_.reset();
  g_stack = nullptr;  // removing the netif aborts connections bound to it: their RSTs go nowhere
  netif_remove(&g_netif);
}

void LwipStack::setAddresses(std::optional<Addr> v4, std::optional<Addr> v6) {
  ip4_addr_t a4, mask, gw;
  ip4_addr_set_zero(&a4);
  ip4_addr_set_zero(&gw);
  IP4_ADDR(&mask, 255, 255, 255, 255);
  if (v4) std::memcpy(&a4.addr, v4->bytes.data(), 4);
  netif_set_addr(&g_netif, &a4, &mask, &gw);
  if (v6) {
    ip6_addr_t a6;
    std::memcpy(a6.addr, v6->bytes.data(), 16);
    netif_ip6_addr_set(&g_netif, 0, &a6);
    netif_ip6_addr_set_state(&g_netif, 0, IP6_ADDR_PREFERRED);
  } else {
    netif_ip6_addr_set_state(&g_netif, 0, IP6_ADDR_INVALID);
  }
  v4_ = v4;
  v6_ = v6;
}

void LwipStack::input(std::span<const uint8_t> packet) {
  if (packet.empty() || packet.size() > 65535) return;
  struct pbuf* p = pbuf_alloc(PBUF_RAW, u16_t(packet.size()), PBUF_RAM);
  if (!p) return;
  std::memcpy(p->payload, packet.data(), packet.size());
  ++packetsIn_;
  if (g_netif.input(p, &g_netif) != ERR_OK) pbuf_free(p);
}

void LwipStack::emit(std::span<const uint8_t> packet) {
  ++packetsOut_;
  output_(packet);
}

void LwipStack::kick() {
  u32_t ms = sys_timeouts_sleeptime();
  if (ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE) ms = 1000;
  auto at = loop_.now() + std::chrono::milliseconds(ms);
  if (timer_ && at >= timerAt_) return;  // the armed timer fires first
  timerAt_ = at;
  timer_ = loop_.after(std::chrono::milliseconds(ms), [this] { onTimer(); });
}

void LwipStack::onTimer() {
  timer_.reset();
  sys_check_timeouts();
  kick();
}

}  // namespace tnet::netstack
