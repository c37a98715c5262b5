// Randomised event sequences against one PeerEndpoint: whatever a hostile peer or network does,
// the tables stay bounded, deadlines move forward, and every Pong goes back on its Ping's path.
#include <gtest/gtest.h>

#include <random>

#include "services/magicsockd/core/constants.h"
#include "services/magicsockd/core/peer_endpoint.h"
#include "services/magicsockd/core/test_util.h"

namespace tnet::magicsock {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::counterRandom;

TEST(PeerEndpointRandom, InvariantsHoldUnderArbitraryEvents) {
  for (uint32_t seed = 1; seed <= 40; seed++) {
    std::mt19937 rng(seed);
    auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
    auto randomAddr = [&] {
      if (pick(4) == 0) {
        std::array<uint8_t, 16> v6{0xfe, static_cast<uint8_t>(pick(2) ? 0x80 : 0x00)};
        v6[15] = static_cast<uint8_t>(pick(256));
        return wire::IpPort::v6(v6, static_cast<uint16_t>(pick(4)));
      }
      return wire::IpPort::v4(10, 0, static_cast<uint8_t>(pick(2)), static_cast<uint8_t>(pick(200)),
                              static_cast<uint16_t>(pick(3)));
    };
    PeerEndpoint ep(counterRandom(static_cast<uint8_t>(seed)));
    std::vector<disco::TxId> sent;
    MonoTime now = at(0s);
    for (int step = 0; step < 3000; step++) {
      std::vector<Action> out;
      now += Duration(static_cast<int64_t>(pick(2000)) * 1'000'000);  // 0–2 s
      switch (pick(8)) {
        case 0: {
          std::vector<wire::IpPort> eps;
          for (uint32_t i = pick(150); i > 0; i--) eps.push_back(randomAddr());
          ep.setNetmap(now, eps, static_cast<uint16_t>(pick(3)), out);
          break;
        }
        case 1:
          (void)ep.noteSendData(now, out);
          break;
        case 2: {
          disco::TxId tx{};
          tx[0] = static_cast<uint8_t>(pick(40));
          DiscoAddr from = pick(2) ? DiscoAddr::viaUdp(randomAddr()) : DiscoAddr::viaDerp(1);
          ep.handlePing(now, from, tx, out);
          for (const auto& pong : testing::actionsOf<SendDiscoPong>(out)) EXPECT_EQ(pong.to, from);
          break;
        }
        case 3: {
          disco::TxId tx{};
          if (!sent.empty() && pick(3) != 0) tx = sent[pick(static_cast<uint32_t>(sent.size()))];
          DiscoAddr from = pick(4) ? DiscoAddr::viaUdp(randomAddr()) : DiscoAddr::viaDerp(2);
          (void)ep.handlePong(now, from, disco::Pong{tx, randomAddr()}, out);
          break;
        }
        case 4: {
          disco::CallMeMaybe cmm;
          for (uint32_t i = pick(120); i > 0; i--) cmm.myNumber.push_back(randomAddr());
          (void)ep.handleCallMeMaybe(now, pick(5) ? DiscoAddr::viaDerp(1) : DiscoAddr::viaUdp(randomAddr()),
                                     cmm, out);
          break;
        }
        case 5:
          ep.noteDerpRecv(static_cast<uint16_t>(pick(4)));
          break;
        default:
          if (ep.nextDeadline() != NEVER) now = std::max(now, ep.nextDeadline());
          (void)ep.tick(now, out);
          break;
      }
      for (const auto& p : testing::actionsOf<SendDiscoPing>(out)) {
        EXPECT_FALSE(p.to.isDerp());
        sent.push_back(p.txId);
      }
      if (sent.size() > 500) sent.erase(sent.begin(), sent.begin() + 250);
      ASSERT_LE(ep.outstandingPings(), MAX_OUTSTANDING_PINGS) << "seed " << seed;
      ASSERT_LE(ep.candidateCount(), MAX_CANDIDATE_ENDPOINTS) << "seed " << seed;
      MonoTime next = ep.tick(now, out);
      ASSERT_GT(next, now) << "seed " << seed << " step " << step;
      SendPath path = ep.sendPath(now);
      // UDP only ever goes to the best address; with no DERP region known an untrusted best
      // address is still the only way, so "direct" alone does not imply trust.
      if (path.udp) {
        ASSERT_TRUE(ep.bestAddr().valid);
        EXPECT_EQ(*path.udp, ep.bestAddr().addr);
      }
      if (ep.bestAddr().valid && now <= ep.trustedUntil()) {
        EXPECT_TRUE(path.direct());
      }
    }
  }
}

}  // namespace
}  // namespace tnet::magicsock
