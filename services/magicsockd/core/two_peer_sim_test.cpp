// Two peers' endpoint state machines talking through a simulated network with a fake clock.
// Disco messages are really sealed and opened (libs/wire/disco.h), so a wrong disco key fails
// the same way it would on the wire; only sockets and the clock are simulated.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <optional>

#include "libs/wire/disco.h"
#include "services/magicsockd/core/constants.h"
#include "services/magicsockd/core/peer_endpoint.h"
#include "services/magicsockd/core/test_util.h"

namespace tnet::magicsock {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::counterRandom;

struct Packet {
  MonoTime deliverAt;
  int to;
  bool viaDerp;
  uint16_t region;
  wire::IpPort src;
  Bytes bytes;
};

struct Node {
  key::DiscoPrivate disco = key::DiscoPrivate::generate();
  std::optional<key::DiscoPublic> peerDisco;  // what our netmap says the peer's disco key is
  wire::IpPort addr;
  uint16_t home;
  PeerEndpoint ep;
  std::vector<std::pair<MonoTime, PathChanged>> changes;
  size_t undecryptable = 0;
  Node(wire::IpPort a, uint16_t h, uint8_t salt) : addr(a), home(h), ep(counterRandom(salt)) {}
};

class Sim {
 public:
  bool udpBlocked = false;
  bool traffic = true;
  std::array<bool, 2> trafficFrom{true, true};
  // Node 1 sits behind a stateful firewall: inbound UDP from node 0 passes only within 30 s of
  // node 1 having sent to node 0 (the case CallMeMaybe exists for).
  bool firewallOn1 = false;
  std::optional<MonoTime> node1SentToNode0;
  size_t firewallDrops = 0;
  Duration udpLatency = 15ms;
  Duration derpLatency = 60ms;
  MonoTime now = at(0s);
  std::array<Node, 2> nodes{Node(*wire::IpPort::parse("198.51.100.10:41641"), 1, 0xa),
                            Node(*wire::IpPort::parse("203.0.113.20:41641"), 2, 0xb)};

  Sim() {
    for (int i = 0; i < 2; i++) {
      Node& self = nodes[i];
      Node& peer = nodes[1 - i];
      self.peerDisco = peer.disco.publicKey();
      std::vector<Action> out;
      self.ep.setNetmap(now, {peer.addr}, peer.home, out);
      carryOut(i, out);
    }
  }

  // Runs the event loop until `until`; outbound data every 200 ms while `traffic`.
  void runUntil(MonoTime until) {
    while (true) {
      MonoTime next = nextDataAt_;
      for (const auto& p : inflight_) next = earliest(next, p.deliverAt);
      for (auto& n : nodes) next = earliest(next, n.ep.nextDeadline());
      if (next > until) break;
      now = std::max(now, next);
      deliverDue();
      for (int i = 0; i < 2; i++) {
        if (nodes[i].ep.nextDeadline() <= now) {
          std::vector<Action> out;
          nodes[i].ep.tick(now, out);
          carryOut(i, out);
        }
      }
      if (nextDataAt_ <= now) {
        if (traffic) {
          for (int i = 0; i < 2; i++) {
            if (!trafficFrom[i]) continue;
            std::vector<Action> out;
            nodes[i].ep.noteSendData(now, out);
            carryOut(i, out);
          }
        }
        nextDataAt_ = now + 200ms;
      }
    }
    now = until;
  }

  // When node i's path first became direct, if it did.
  std::optional<MonoTime> firstDirect(int i) const {
    for (const auto& [t, c] : nodes[i].changes) {
      if (c.path.direct()) return t;
    }
    return std::nullopt;
  }

  // One outbound data packet from node i, outside the periodic traffic.
  void sendData(int i) {
    std::vector<Action> out;
    nodes[i].ep.noteSendData(now, out);
    carryOut(i, out);
  }

 private:
  void send(int from, const DiscoAddr& to, const disco::Message& msg) {
    Node& self = nodes[from];
    auto sealed = disco::sealMessage(msg, self.disco, *self.peerDisco);
    ASSERT_TRUE(sealed);
    int dst = 1 - from;
    if (to.isDerp()) {
      // Our DERP server relays within whichever region both connect to; the sim delivers.
      inflight_.push_back(Packet{now + derpLatency, dst, true, to.derpRegion, {}, *sealed});
    } else if (to.udp == nodes[dst].addr && !udpBlocked) {
      if (from == 1) node1SentToNode0 = now;
      inflight_.push_back(Packet{now + udpLatency, dst, false, 0, self.addr, *sealed});
    }
  }

  void carryOut(int i, const std::vector<Action>& actions) {
    for (const auto& a : actions) {
      if (const auto* p = std::get_if<SendDiscoPing>(&a)) {
        send(i, p->to, disco::Ping{p->txId, {}, 0});
      } else if (const auto* p = std::get_if<SendDiscoPong>(&a)) {
        send(i, p->to, disco::Pong{p->txId, p->observedSrc});
      } else if (const auto* c = std::get_if<SendCallMeMaybe>(&a)) {
        send(i, DiscoAddr::viaDerp(c->derpRegion), disco::CallMeMaybe{{nodes[i].addr}});
      } else if (const auto* pc = std::get_if<PathChanged>(&a)) {
        nodes[i].changes.emplace_back(now, *pc);
      }
    }
  }

  void deliverDue() {
    std::vector<Packet> due;
    auto split = std::stable_partition(inflight_.begin(), inflight_.end(),
                                       [&](const Packet& p) { return p.deliverAt > now; });
    due.assign(std::make_move_iterator(split), std::make_move_iterator(inflight_.end()));
    inflight_.erase(split, inflight_.end());
    for (auto& p : due) receive(p);
  }

  void receive(const Packet& p) {
    Node& self = nodes[p.to];
    if (firewallOn1 && p.to == 1 && !p.viaDerp && (!node1SentToNode0 || now - *node1SentToNode0 > 30s)) {
      firewallDrops++;
      return;
    }
    auto opened = disco::openMessage(p.bytes, self.disco);
    if (!opened || opened->sender != *self.peerDisco) {
      self.undecryptable++;  // Go drops these silently
      return;
    }
    DiscoAddr from = p.viaDerp ? DiscoAddr::viaDerp(p.region) : DiscoAddr::viaUdp(p.src);
    std::vector<Action> out;
    if (p.viaDerp) self.ep.noteDerpRecv(p.region);
    if (const auto* ping = std::get_if<disco::Ping>(&opened->message)) {
      self.ep.handlePing(now, from, ping->txId, out);
    } else if (const auto* pong = std::get_if<disco::Pong>(&opened->message)) {
      (void)self.ep.handlePong(now, from, *pong, out);
    } else if (const auto* cmm = std::get_if<disco::CallMeMaybe>(&opened->message)) {
      (void)self.ep.handleCallMeMaybe(now, from, *cmm, out);
    }
    carryOut(p.to, out);
  }

  std::vector<Packet> inflight_;
  MonoTime nextDataAt_ = at(0s);
};

TEST(TwoPeerSim, DirectReachableUpgradesWithinSeconds) {
  Sim sim;
  sim.runUntil(at(5s));
  for (int i = 0; i < 2; i++) {
    auto t = sim.firstDirect(i);
    ASSERT_TRUE(t) << "node " << i;
    EXPECT_LE(*t, at(1s)) << "node " << i;
    EXPECT_TRUE(sim.nodes[i].ep.sendPath(sim.now).direct());
    EXPECT_EQ(sim.nodes[i].ep.bestAddr().addr, sim.nodes[1 - i].addr);
    EXPECT_EQ(sim.nodes[i].ep.bestAddr().latency, 30ms);  // two 15 ms hops
  }
  // With traffic flowing and pongs answering the 3 s heartbeat, the path stays direct.
  sim.runUntil(at(120s));
  for (int i = 0; i < 2; i++) {
    EXPECT_TRUE(sim.nodes[i].ep.sendPath(sim.now).direct());
    // Exactly two path reports: the initial DERP-only path from the netmap, then direct.
    ASSERT_EQ(sim.nodes[i].changes.size(), 2u) << "no flapping";
    EXPECT_FALSE(sim.nodes[i].changes[0].second.path.udp);
    EXPECT_EQ(sim.nodes[i].changes[0].second.path.derpRegion, sim.nodes[1 - i].home);
  }
}

TEST(TwoPeerSim, CallMeMaybeOpensStatefulFirewall) {
  Sim sim;
  sim.firewallOn1 = true;
  // Only node 0 has traffic: its pings bounce off node 1's firewall, but the CallMeMaybe it sends
  // via DERP makes node 1 ping back, which opens the firewall for node 0's next round. Node 1,
  // idle, would never ping on its own.
  sim.trafficFrom = {true, false};
  sim.runUntil(at(12s));
  EXPECT_GT(sim.firewallDrops, 0u);
  for (int i = 0; i < 2; i++) {
    auto t = sim.firstDirect(i);
    ASSERT_TRUE(t) << "node " << i;
    EXPECT_LE(*t, at(6s)) << "node " << i;  // within one discoPingInterval of the first round
  }
  // Node 0 keeps sending, so its heartbeat keeps the path trusted; idle node 1's trust lapses
  // 6.5 s after its pong, as in Go (it has nothing to send).
  EXPECT_TRUE(sim.nodes[0].ep.sendPath(sim.now).direct());
}

TEST(TwoPeerSim, DirectBlockedStaysOnDerp) {
  Sim sim;
  sim.udpBlocked = true;
  sim.runUntil(at(60s));
  for (int i = 0; i < 2; i++) {
    EXPECT_FALSE(sim.firstDirect(i));
    SendPath p = sim.nodes[i].ep.sendPath(sim.now);
    EXPECT_FALSE(p.udp);
    EXPECT_EQ(p.derpRegion, sim.nodes[1 - i].home);
    EXPECT_LE(sim.nodes[i].ep.outstandingPings(), MAX_OUTSTANDING_PINGS);
  }
}

TEST(TwoPeerSim, WrongDiscoKeyStaysOnDerp) {
  Sim sim;
  // Node 0's netmap carries a stale disco key for node 1 (as after node 1 restarted).
  sim.nodes[0].peerDisco = key::DiscoPrivate::generate().publicKey();
  sim.runUntil(at(30s));
  for (int i = 0; i < 2; i++) {
    EXPECT_FALSE(sim.firstDirect(i)) << "node " << i;
    EXPECT_FALSE(sim.nodes[i].ep.sendPath(sim.now).udp);
    EXPECT_GT(sim.nodes[i].undecryptable, 0u);
  }
}

TEST(TwoPeerSim, DirectGoingQuietFallsBackToDerpWithinTrustPlusHeartbeat) {
  Sim sim;
  sim.runUntil(at(10s));
  ASSERT_TRUE(sim.nodes[0].ep.sendPath(sim.now).direct());
  sim.udpBlocked = true;
  MonoTime blockedAt = sim.now;
  sim.runUntil(at(30s));
  for (int i = 0; i < 2; i++) {
    const auto& changes = sim.nodes[i].changes;
    ASSERT_GE(changes.size(), 3u);  // initial DERP, direct, then the fallback
    const auto& [t, change] = changes[2];
    EXPECT_EQ(change.path.derpRegion, sim.nodes[1 - i].home);
    EXPECT_GT(t, blockedAt);
    // The last pong came at most one heartbeat (3 s) before the block; trust ends 6.5 s later.
    EXPECT_LE(t, blockedAt + TRUST_UDP_ADDR_DURATION + 1ns) << "node " << i;
  }
  // Unblocked again: back to direct within a few seconds (heartbeat + discovery).
  sim.udpBlocked = false;
  MonoTime unblockedAt = sim.now;
  sim.runUntil(at(40s));
  for (int i = 0; i < 2; i++) {
    EXPECT_TRUE(sim.nodes[i].ep.sendPath(sim.now).direct()) << "node " << i;
    EXPECT_LE(sim.nodes[i].changes.back().first, unblockedAt + HEARTBEAT_INTERVAL + 1s);
  }
}

TEST(TwoPeerSim, IdlePeersStopHeartbeating) {
  Sim sim;
  sim.runUntil(at(5s));
  sim.traffic = false;
  sim.runUntil(at(60s));
  for (auto& n : sim.nodes) EXPECT_FALSE(n.ep.heartbeatRunning());
}

}  // namespace
}  // namespace tnet::magicsock
