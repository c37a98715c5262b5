// The process's one lwIP instance (NO_SYS): one netif carrying this node's tailnet IPv4 and IPv6
// address, MTU 1280, no link layer. Packets enter with input() and leave through the output
// callback; timers run from the service loop, armed for lwIP's next deadline after each pass.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "libs/bus/loop.h"
#include "services/netstackd/core/packet.h"

struct netif;

namespace tnet::netstack {

class LwipStack {
 public:
  using Output = std::function<void(std::span<const uint8_t> packet)>;
  static constexpr uint16_t MTU = 1280;

  // Only one per process (lwIP keeps global state).
  LwipStack(bus::Loop& loop, Output output);
  ~LwipStack();
  LwipStack(const LwipStack&) = delete;
  LwipStack& operator=(const LwipStack&) = delete;

  void setAddresses(std::optional<Addr> v4, std::optional<Addr> v6);
  const std::optional<Addr>& v4() const { return v4_; }
  const std::optional<Addr>& v6() const { return v6_; }
  bool hasAddresses() const { return v4_ || v6_; }

  // Hands one IP packet to lwIP (copied).
  void input(std::span<const uint8_t> packet);
  // Re-arms the timer for lwIP's next deadline; call after any pass that used lwIP.
  void kick();

  uint64_t packetsIn() const { return packetsIn_; }
  uint64_t packetsOut() const { return packetsOut_; }

  // For the netif's C callbacks.
  void emit(std::span<const uint8_t> packet);

 private:
  void onTimer();

  bus::Loop& loop_;
  Output output_;
  struct netif* netif_;
  std::optional<Addr> v4_, v6_;
  bus::Handle timer_;
  bus::Loop::Clock::time_point timerAt_{};
  uint64_t packetsIn_ = 0, packetsOut_ = 0;
};

}  // namespace tnet::netstack
