// Three network namespaces the test creates (root only): a hub running testcontrol and testderp
// that routes between two node namespaces, A (10.99.1.2, hub side 10.99.1.1) and B (10.99.2.2,
// hub side 10.99.2.1). UDP between A and B can be dropped in the hub's forward path to force
// DERP; the hub's own services (control over TCP, DERP over TCP, STUN over UDP) stay reachable.
// Everything is deleted with the object, also when the test fails.
#pragma once

#include <memory>
#include <string>

#include "tests/integration/harness/harness.h"

namespace tnet::tailnet_test {

using namespace tnet::harness;

class Topology {
 public:
  // "" when the topology can be built here, else the reason to skip (not root, no `ip`/`nft`).
  static std::string unavailable();
  static Result<std::unique_ptr<Topology>> create();
  ~Topology();

  const NetNamespace& hub() const { return *hub_; }
  const NetNamespace& a() const { return *a_; }
  const NetNamespace& b() const { return *b_; }
  static constexpr const char* HUB_ADDR = "10.99.1.1";  // what A and B use to reach the hub

  // Drops (or again forwards) UDP between A and B in the hub.
  Result<void> blockUdpBetweenNodes(bool block);
  // Runs argv inside `ns`.
  static ProcessResult run(const NetNamespace& ns, const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = 20s);

 private:
  Topology() = default;
  std::unique_ptr<NetNamespace> hub_, a_, b_;
  bool tableMade_ = false;
};

}  // namespace tnet::tailnet_test
