#include "services/magicsockd/core/peer_endpoint.h"

#include <gtest/gtest.h>

#include "services/magicsockd/core/constants.h"
#include "services/magicsockd/core/test_util.h"

namespace tnet::magicsock {
namespace {

using namespace std::chrono_literals;
using testing::actionsOf;
using testing::at;
using testing::counterRandom;

wire::IpPort ipp(const char* s) {
  return *wire::IpPort::parse(s);
}

constexpr uint16_t HOME = 7;

struct Fixture {
  PeerEndpoint ep{counterRandom(1)};
  std::vector<Action> out;
  Fixture(std::vector<wire::IpPort> eps = {ipp("198.51.100.1:41641"), ipp("10.0.0.2:41641")}) {
    ep.setNetmap(at(0s), eps, HOME, out);
    out.clear();
  }
  // Answers the ping to `to` with a UDP pong `rtt` later.
  Result<void> pongFor(const std::vector<Action>& acts, const wire::IpPort& to, MonoTime when) {
    for (const auto& p : actionsOf<SendDiscoPing>(acts)) {
      if (p.to.udp == to) return ep.handlePong(when, DiscoAddr::viaUdp(to), disco::Pong{p.txId, {}}, out);
    }
    ADD_FAILURE() << "no ping to " << to.toString();
    return Error::failed("no ping");
  }
};

TEST(PeerEndpoint, WithoutDirectPathSendsViaHomeDerp) {
  Fixture f;
  SendPath p = f.ep.sendPath(at(0s));
  EXPECT_FALSE(p.udp);
  EXPECT_EQ(p.derpRegion, HOME);
}

TEST(PeerEndpoint, NoPathAtAllIsEmpty) {
  PeerEndpoint ep{counterRandom(1)};
  EXPECT_TRUE(ep.sendPath(at(0s)).empty());
  ep.noteDerpRecv(3);  // derpRoute fallback
  EXPECT_EQ(ep.sendPath(at(0s)).derpRegion, 3);
}

TEST(PeerEndpoint, FirstSendPingsEveryCandidateAndSendsCallMeMaybe) {
  Fixture f;
  SendPath p = f.ep.noteSendData(at(0s), f.out);
  EXPECT_EQ(p.derpRegion, HOME);
  auto pings = actionsOf<SendDiscoPing>(f.out);
  ASSERT_EQ(pings.size(), 2u);
  EXPECT_NE(pings[0].txId, pings[1].txId);
  auto cmm = actionsOf<SendCallMeMaybe>(f.out);
  ASSERT_EQ(cmm.size(), 1u);
  EXPECT_EQ(cmm[0].derpRegion, HOME);
  EXPECT_EQ(f.ep.outstandingPings(), 2u);
  // Within discoPingInterval (5 s) no endpoint is pinged again, and no CallMeMaybe.
  f.out.clear();
  f.ep.noteSendData(at(4s), f.out);
  EXPECT_TRUE(actionsOf<SendDiscoPing>(f.out).empty());
  EXPECT_TRUE(actionsOf<SendCallMeMaybe>(f.out).empty());
  f.ep.noteSendData(at(5s), f.out);
  EXPECT_EQ(actionsOf<SendDiscoPing>(f.out).size(), 2u);
}

TEST(PeerEndpoint, PongMakesDirectPathTrustedFor6500ms) {
  Fixture f;
  f.ep.noteSendData(at(0s), f.out);
  auto pings = f.out;
  f.out.clear();
  ASSERT_TRUE(f.pongFor(pings, ipp("198.51.100.1:41641"), at(30ms)));
  EXPECT_EQ(f.ep.bestAddr().addr, ipp("198.51.100.1:41641"));
  EXPECT_EQ(f.ep.bestAddr().latency, 30ms);
  auto changed = actionsOf<PathChanged>(f.out);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_TRUE(changed[0].path.direct());
  EXPECT_EQ(changed[0].latency, 30ms);
  EXPECT_TRUE(f.ep.sendPath(at(30ms) + TRUST_UDP_ADDR_DURATION).direct());
  SendPath lapsed = f.ep.sendPath(at(30ms) + TRUST_UDP_ADDR_DURATION + 1ns);
  EXPECT_EQ(lapsed.udp, ipp("198.51.100.1:41641"));  // keeps trying UDP ...
  EXPECT_EQ(lapsed.derpRegion, HOME);                // ... and DERP too
}

TEST(PeerEndpoint, BetterPongReplacesBestPrivateWins) {
  Fixture f;
  f.ep.noteSendData(at(0s), f.out);
  auto pings = f.out;
  ASSERT_TRUE(f.pongFor(pings, ipp("198.51.100.1:41641"), at(20ms)));
  // Private address is 5 ms slower: 20 private points beat the public's 20% latency points? 25 ms
  // vs 20 ms gives the public 20 points; 20 vs 20 is not strictly more, so no switch.
  ASSERT_TRUE(f.pongFor(pings, ipp("10.0.0.2:41641"), at(25ms)));
  EXPECT_EQ(f.ep.bestAddr().addr, ipp("198.51.100.1:41641"));
  // A later round where the private one answers at 22 ms (public kept 20 ms): 20 > 9, switch.
  f.out.clear();
  f.ep.noteSendData(at(7s), f.out);  // trust lapsed at 6.52 s: a new round
  auto round2 = f.out;
  ASSERT_TRUE(f.pongFor(round2, ipp("10.0.0.2:41641"), at(7s) + 22ms));
  EXPECT_EQ(f.ep.bestAddr().addr, ipp("10.0.0.2:41641"));
}

TEST(PeerEndpoint, UnknownAndExpiredTxIdsAreRejected) {
  Fixture f;
  disco::TxId bogus{};
  bogus.fill(0xee);
  auto r =
      f.ep.handlePong(at(0s), DiscoAddr::viaUdp(ipp("198.51.100.1:41641")), disco::Pong{bogus, {}}, f.out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::INVALID);

  f.ep.noteSendData(at(0s), f.out);
  auto pings = f.out;
  f.ep.tick(at(0s) + PING_TIMEOUT_DURATION, f.out);
  // The two first pings expired; the heartbeat due since 3 s started a fresh round of two.
  EXPECT_EQ(f.ep.outstandingPings(), 2u);
  auto late = actionsOf<SendDiscoPing>(pings)[0];
  EXPECT_FALSE(f.ep.handlePong(at(6s), late.to, disco::Pong{late.txId, {}}, f.out));
  EXPECT_FALSE(f.ep.bestAddr().valid);
}

TEST(PeerEndpoint, PongViaDerpNeverPromotesDirect) {
  Fixture f;
  f.ep.noteSendData(at(0s), f.out);
  auto p = actionsOf<SendDiscoPing>(f.out)[0];
  ASSERT_TRUE(f.ep.handlePong(at(10ms), DiscoAddr::viaDerp(HOME), disco::Pong{p.txId, {}}, f.out));
  EXPECT_FALSE(f.ep.bestAddr().valid);
}

TEST(PeerEndpoint, CallMeMaybeOnlyViaDerp) {
  Fixture f;
  disco::CallMeMaybe cmm{{ipp("203.0.113.5:1234")}};
  auto r = f.ep.handleCallMeMaybe(at(0s), DiscoAddr::viaUdp(ipp("203.0.113.5:1234")), cmm, f.out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::DENIED);
  EXPECT_EQ(f.ep.candidateCount(), 2u);
  EXPECT_TRUE(f.out.empty());
}

TEST(PeerEndpoint, CallMeMaybeAddsEndpointsAndPingsEverythingAtOnce) {
  Fixture f;
  f.ep.noteSendData(at(0s), f.out);  // pings the two netmap endpoints
  f.out.clear();
  disco::CallMeMaybe cmm{{ipp("203.0.113.5:1234"), ipp("[fe80::1]:1234"), ipp("[2001:db8::5]:1234")}};
  ASSERT_TRUE(f.ep.handleCallMeMaybe(at(1s), DiscoAddr::viaDerp(HOME), cmm, f.out));
  EXPECT_EQ(f.ep.candidateCount(), 4u);                    // link-local v6 skipped
  EXPECT_EQ(actionsOf<SendDiscoPing>(f.out).size(), 4u);   // lastPing cleared: all pinged again
  EXPECT_TRUE(actionsOf<SendCallMeMaybe>(f.out).empty());  // never answered with CallMeMaybe

  // A later CallMeMaybe without 203.0.113.5 drops it; netmap endpoints stay.
  f.out.clear();
  ASSERT_TRUE(f.ep.handleCallMeMaybe(at(2s), DiscoAddr::viaDerp(HOME),
                                     disco::CallMeMaybe{{ipp("[2001:db8::5]:1234")}}, f.out));
  EXPECT_EQ(f.ep.candidateCount(), 3u);
}

TEST(PeerEndpoint, PingIsAnsweredOnItsOwnPath) {
  Fixture f;
  disco::TxId tx{};
  tx.fill(3);
  f.ep.handlePing(at(0s), DiscoAddr::viaUdp(ipp("203.0.113.9:999")), tx, f.out);
  auto pongs = actionsOf<SendDiscoPong>(f.out);
  ASSERT_EQ(pongs.size(), 1u);
  EXPECT_EQ(pongs[0].to, DiscoAddr::viaUdp(ipp("203.0.113.9:999")));
  EXPECT_EQ(pongs[0].observedSrc, ipp("203.0.113.9:999"));
  EXPECT_EQ(pongs[0].txId, tx);
  EXPECT_EQ(f.ep.candidateCount(), 3u);  // learned from the ping

  // The same TxID again (seen on a second path) is ignored.
  f.out.clear();
  f.ep.handlePing(at(1ms), DiscoAddr::viaDerp(HOME), tx, f.out);
  EXPECT_TRUE(f.out.empty());

  disco::TxId tx2{};
  tx2.fill(4);
  f.ep.handlePing(at(2ms), DiscoAddr::viaDerp(HOME), tx2, f.out);
  pongs = actionsOf<SendDiscoPong>(f.out);
  ASSERT_EQ(pongs.size(), 1u);
  EXPECT_EQ(pongs[0].to, DiscoAddr::viaDerp(HOME));
  EXPECT_EQ(pongs[0].observedSrc, ipp("127.3.3.40:7"));
  EXPECT_EQ(f.ep.candidateCount(), 3u);  // DERP pings teach no address
}

TEST(PeerEndpoint, PingLearnedEndpointExpiresAfterSessionTimeout) {
  Fixture f(std::vector<wire::IpPort>{});
  disco::TxId tx{};
  tx.fill(5);
  f.ep.handlePing(at(0s), DiscoAddr::viaUdp(ipp("203.0.113.9:999")), tx, f.out);
  EXPECT_EQ(f.ep.candidateCount(), 1u);
  f.ep.noteSendData(at(45s), f.out);
  EXPECT_EQ(f.ep.candidateCount(), 1u);
  f.ep.noteSendData(at(46s), f.out);
  EXPECT_EQ(f.ep.candidateCount(), 0u);
}

TEST(PeerEndpoint, HeartbeatKeepsTrustWhileActiveAndStopsWhenIdle) {
  Fixture f;
  f.ep.noteSendData(at(0s), f.out);
  ASSERT_TRUE(f.pongFor(f.out, ipp("198.51.100.1:41641"), at(10ms)));
  EXPECT_EQ(f.ep.nextDeadline(), at(3s));
  // Heartbeat at 3 s pings the best address only (latency > 5 ms, but full round was < 1 min ago).
  f.out.clear();
  f.ep.tick(at(3s), f.out);
  auto hb = actionsOf<SendDiscoPing>(f.out);
  ASSERT_EQ(hb.size(), 1u);
  EXPECT_EQ(hb[0].purpose, PingPurpose::HEARTBEAT);
  EXPECT_EQ(hb[0].to.udp, ipp("198.51.100.1:41641"));
  ASSERT_TRUE(f.pongFor(f.out, ipp("198.51.100.1:41641"), at(3s) + 10ms));
  EXPECT_EQ(f.ep.trustedUntil(), at(3s) + 10ms + TRUST_UDP_ADDR_DURATION);
  // No more outbound data: the heartbeat runs until 45 s of idleness, then stops.
  MonoTime t = at(3s);
  int heartbeats = 0;
  while (f.ep.heartbeatRunning() && t < at(120s)) {
    t = f.ep.nextDeadline();
    f.out.clear();
    f.ep.tick(t, f.out);
    for (const auto& p : actionsOf<SendDiscoPing>(f.out)) {
      if (p.purpose == PingPurpose::HEARTBEAT) heartbeats++;
    }
  }
  EXPECT_FALSE(f.ep.heartbeatRunning());
  EXPECT_LE(t, at(49s));
  EXPECT_GE(heartbeats, 13);
}

TEST(PeerEndpoint, FullRoundEveryMinuteUnlessGoodEnough) {
  Fixture f;
  f.ep.noteSendData(at(0s), f.out);
  ASSERT_TRUE(f.pongFor(f.out, ipp("198.51.100.1:41641"), at(4ms)));  // ≤ 5 ms: good enough
  MonoTime t = at(0s);
  size_t discovery = 0;
  for (int i = 0; i < 30; i++) {  // 90 s of heartbeats, answered, with traffic
    t = t + HEARTBEAT_INTERVAL;
    f.out.clear();
    f.ep.noteSendData(t - 1ms, f.out);
    f.ep.tick(t, f.out);
    for (const auto& p : actionsOf<SendDiscoPing>(f.out)) {
      if (p.purpose == PingPurpose::DISCOVERY) discovery++;
      if (p.purpose == PingPurpose::HEARTBEAT) {
        ASSERT_TRUE(f.pongFor(f.out, p.to.udp, t + 4ms));
      }
    }
  }
  EXPECT_EQ(discovery, 0u);
}

TEST(PeerEndpoint, OutstandingPingsAreCapped) {
  std::vector<wire::IpPort> many;
  for (int i = 0; i < 90; i++) many.push_back(wire::IpPort::v4(198, 51, 100, static_cast<uint8_t>(i), 1000));
  Fixture f(many);
  f.ep.noteSendData(at(0s), f.out);
  EXPECT_EQ(f.ep.outstandingPings(), MAX_OUTSTANDING_PINGS);
  EXPECT_EQ(actionsOf<SendDiscoPing>(f.out).size(), MAX_OUTSTANDING_PINGS);
}

TEST(PeerEndpoint, CandidateListIsBounded) {
  std::vector<wire::IpPort> many;
  for (int i = 0; i < 250; i++) {
    many.push_back(wire::IpPort::v4(198, 51, static_cast<uint8_t>(i / 200), static_cast<uint8_t>(i), 1000));
  }
  Fixture f(many);
  EXPECT_EQ(f.ep.candidateCount(), MAX_CANDIDATE_ENDPOINTS);
}

// Regression: with no DERP region at all, a lapsed path equals the trusted one; the trust-lapse
// deadline must not stay in the past (the app would spin on tick()).
TEST(PeerEndpoint, TrustLapseWithoutDerpDoesNotLeaveDeadlineInPast) {
  PeerEndpoint ep{counterRandom(1)};
  std::vector<Action> out;
  ep.setNetmap(at(0s), {ipp("198.51.100.1:41641")}, 0, out);
  ep.noteSendData(at(0s), out);
  auto ping = actionsOf<SendDiscoPing>(out).at(0);
  ASSERT_TRUE(ep.handlePong(at(10ms), ping.to, disco::Pong{ping.txId, {}}, out));
  MonoTime t = at(10ms) + TRUST_UDP_ADDR_DURATION + 1ns;
  ep.noteSendData(at(1s), out);
  for (MonoTime stop = at(60s); t < stop;) {
    MonoTime next = ep.tick(t, out);
    ASSERT_GT(next, t);
    t = next == NEVER ? stop : next;
  }
}

TEST(PeerEndpoint, RemovingBestFromNetmapFallsBackToDerp) {
  Fixture f;
  f.ep.noteSendData(at(0s), f.out);
  ASSERT_TRUE(f.pongFor(f.out, ipp("198.51.100.1:41641"), at(10ms)));
  f.out.clear();
  f.ep.setNetmap(at(1s), {ipp("10.0.0.2:41641")}, HOME, f.out);
  EXPECT_FALSE(f.ep.bestAddr().valid);
  auto changed = actionsOf<PathChanged>(f.out);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_FALSE(changed[0].path.udp);
  EXPECT_EQ(changed[0].path.derpRegion, HOME);
}

}  // namespace
}  // namespace tnet::magicsock
