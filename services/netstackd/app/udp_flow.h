// UdpFlow: one inbound UDP flow — an lwIP pcb bound to our address and port, connected to the
// peer ⇄ a UDP socket connected to 127.0.0.1:port. Internal to netstackd's engine.
#pragma once

#include <cstdint>
#include <vector>

#include "lwip/pbuf.h"
#include "lwip/udp.h"
#include "services/netstackd/app/netstack.h"

namespace tnet::netstack {

class UdpFlow {
 public:
  UdpFlow(Engine& e, int fd, struct udp_pcb* pcb, std::vector<uint8_t> first, bool v6);
  ~UdpFlow();
  bus::Loop::Clock::time_point lastUsed;
  bool dead = false;

 private:
  void onTailnet(struct pbuf* p);
  void onLocal();
  void refused();

  Engine& e_;
  int fd_;
  struct udp_pcb* pcb_;
  std::vector<uint8_t> first_;
  bool v6_;
  uint64_t token_ = 0;
};

}  // namespace tnet::netstack
