// Two DataPaths wired back to back through the pipe framing, as wgd A and B with magicsockd in
// between: handshake on demand, AllowedIPs, unknown peers, TSMP, re-keying and peer changes.
#include "services/wgd/core/data_path.h"

#include <gtest/gtest.h>

#include <deque>

#include "services/wgd/core/test_support.h"

namespace tnet::wg {
namespace {

using testing::at;

IpPrefix prefix(std::string_view s) {
  return *IpPrefix::parse(s);
}

Bytes ipv4(std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst, uint8_t proto = 1, ByteSpan body = {}) {
  Bytes p(20 + (body.empty() ? 8 : body.size()), 0xab);
  p[0] = 0x45;
  p[1] = 0;
  putU16BE(p.data() + 2, uint16_t(p.size()));
  std::fill(p.begin() + 4, p.begin() + 12, 0);
  p[8] = 64;
  p[9] = proto;
  std::copy(src.begin(), src.end(), p.begin() + 12);
  std::copy(dst.begin(), dst.end(), p.begin() + 16);
  std::copy(body.begin(), body.end(), p.begin() + 20);
  return p;
}

constexpr std::array<uint8_t, 4> IP_A{100, 64, 0, 1}, IP_B{100, 64, 0, 2};

struct Node {
  Key32 priv{};
  std::unique_ptr<DataPath> path;
  std::deque<Bytes> toMagicsock, toNetstack;
  std::vector<std::pair<Key32, Key32>> adverts;
  std::vector<std::pair<uint64_t, uint16_t>> pongs;  // (token, peerapi port)

  Node() {
    crypto::generatePrivateKey(priv);
    path = std::make_unique<DataPath>(
        priv,
        DataPathOutput{[this](ByteSpan f) { toMagicsock.emplace_back(f.begin(), f.end()); },
                       [this](ByteSpan p) { toNetstack.emplace_back(p.begin(), p.end()); },
                       [this](const Key32& from, const Key32& disco) { adverts.emplace_back(from, disco); },
                       [this](uint64_t token, uint16_t port) { pongs.emplace_back(token, port); }});
  }
};

class DataPathPair : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    a_ = std::make_unique<Node>();
    b_ = std::make_unique<Node>();
    a_->path->setPeers({{b_->path->publicKey(), {prefix("100.64.0.2/32")}}});
    b_->path->setPeers({{a_->path->publicKey(), {prefix("100.64.0.1/32")}}});
  }

  // Moves every queued datagram across (as magicsockd would via DERP region 1) until quiet;
  // returns the WireGuard message types moved from `from`'s side, in order.
  std::vector<uint8_t> pump(double t) {
    std::vector<uint8_t> types;
    for (int round = 0; round < 20; ++round) {
      bool moved = false;
      for (auto [src, dst] : {std::pair{a_.get(), b_.get()}, std::pair{b_.get(), a_.get()}}) {
        while (!src->toMagicsock.empty()) {
          Bytes f = std::move(src->toMagicsock.front());
          src->toMagicsock.pop_front();
          if (ByteSpan(f).first(32).size() == 32 &&
              !std::equal(f.begin(), f.begin() + 32, dst->path->publicKey().begin())) {
            continue;  // tagged for a peer that is not on this wire
          }
          Bytes in(MAGICSOCK_HEADER_SIZE, 0);
          std::copy(src->path->publicKey().begin(), src->path->publicKey().end(), in.begin());
          in[32] = 1;  // DERP
          in[50] = 1;  // region 1
          in.insert(in.end(), f.begin() + 32, f.end());
          if (src == a_.get()) types.push_back(f[32]);
          dst->path->fromMagicsock(in, at(t));
          moved = true;
        }
      }
      if (!moved) break;
    }
    return types;
  }

  std::unique_ptr<Node> a_, b_;
};

TEST_F(DataPathPair, HandshakeOnDemandDeliversAndReports) {
  Bytes pkt = ipv4(IP_A, IP_B);
  a_->path->fromNetstack(pkt, at(1));
  ASSERT_EQ(a_->toMagicsock.size(), 1u);
  EXPECT_EQ(a_->toMagicsock[0][32], 1) << "an initiation, the packet waits";
  EXPECT_TRUE(
      std::equal(a_->toMagicsock[0].begin(), a_->toMagicsock[0].begin() + 32, b_->path->publicKey().begin()))
      << "tagged with the peer's node key";
  auto types = pump(1.01);
  ASSERT_EQ(b_->toNetstack.size(), 1u);
  EXPECT_EQ(b_->toNetstack[0], pkt);
  EXPECT_EQ(types, (std::vector<uint8_t>{1, 4}));  // initiation, then the released data
  auto reports = a_->path->peerReports(at(2));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].state, PeerState::ESTABLISHED);
  EXPECT_GT(reports[0].txBytes, 0u);
  EXPECT_GT(reports[0].rxBytes, 0u);
  EXPECT_TRUE(reports[0].lastHandshake);
  // Established: the next packet goes straight out as transport data.
  a_->path->fromNetstack(pkt, at(3));
  EXPECT_EQ(pump(3), (std::vector<uint8_t>{4}));
  EXPECT_EQ(b_->toNetstack.size(), 2u);
  // Long after REJECT_AFTER_TIME without traffic the session reads as expired.
  EXPECT_EQ(a_->path->peerReports(at(1000))[0].state, PeerState::EXPIRED);
}

TEST_F(DataPathPair, InnerSourceOutsideAllowedIpsIsDropped) {
  a_->path->fromNetstack(ipv4(IP_A, IP_B), at(1));
  pump(1);
  ASSERT_EQ(b_->toNetstack.size(), 1u);
  // A claims 100.64.0.9, which B does not route to A.
  a_->path->fromNetstack(ipv4({100, 64, 0, 9}, IP_B), at(2));
  pump(2);
  EXPECT_EQ(b_->toNetstack.size(), 1u);
  EXPECT_EQ(b_->path->counters().drops[size_t(DropReason::DISALLOWED_SOURCE)], 1u);
  // A destination no peer owns never leaves A.
  a_->path->fromNetstack(ipv4(IP_A, {100, 64, 0, 7}), at(2));
  EXPECT_TRUE(a_->toMagicsock.empty());
  EXPECT_EQ(a_->path->counters().drops[size_t(DropReason::NO_ROUTE)], 1u);
  // B widens A's AllowedIPs: now the same packet passes.
  b_->path->setPeers({{a_->path->publicKey(), {prefix("100.64.0.1/32"), prefix("100.64.0.8/29")}}});
  a_->path->fromNetstack(ipv4({100, 64, 0, 9}, IP_B), at(3));
  pump(3);
  EXPECT_EQ(b_->toNetstack.size(), 2u);
}

TEST_F(DataPathPair, PeerNotInConfigCannotHandshake) {
  b_->path->setPeers({});
  a_->path->fromNetstack(ipv4(IP_A, IP_B), at(1));
  pump(1);
  EXPECT_TRUE(b_->toNetstack.empty());
  EXPECT_TRUE(b_->toMagicsock.empty()) << "no response to an unknown initiator";
  EXPECT_EQ(b_->path->counters().drops[size_t(DropReason::UNKNOWN_PEER)], 1u);
  EXPECT_EQ(a_->path->peerReports(at(1))[0].state, PeerState::HANDSHAKING);
}

TEST_F(DataPathPair, ClaimedKeyInTheHeaderIsNotTrusted) {
  a_->path->fromNetstack(ipv4(IP_A, IP_B), at(1));
  Bytes f = a_->toMagicsock.front();
  a_->toMagicsock.clear();
  Bytes in(MAGICSOCK_HEADER_SIZE, 0);  // claimed key all zero: "unknown"
  in.insert(in.end(), f.begin() + 32, f.end());
  b_->path->fromMagicsock(in, at(1));
  ASSERT_EQ(b_->toMagicsock.size(), 1u) << "the initiation was identified by its static key";
  EXPECT_EQ(b_->toMagicsock[0][32], 2);
  EXPECT_TRUE(
      std::equal(b_->toMagicsock[0].begin(), b_->toMagicsock[0].begin() + 32, a_->path->publicKey().begin()));
  // Too short for the header: counted, nothing else.
  b_->path->fromMagicsock(Bytes(MAGICSOCK_HEADER_SIZE, 0), at(1));
  EXPECT_EQ(b_->path->counters().malformedFrames, 1u);
}

TEST_F(DataPathPair, TsmpPingIsAnsweredAndDiscoAdvertHandedUp) {
  a_->path->fromNetstack(ipv4(IP_A, IP_B), at(1));
  pump(1);
  const Bytes ping = *hexDecode("700102030405060708");
  a_->path->fromNetstack(ipv4(IP_A, IP_B, IPPROTO_TSMP, ping), at(2));
  pump(2);
  EXPECT_EQ(b_->toNetstack.size(), 1u) << "the ping is not delivered to netstackd";
  ASSERT_EQ(a_->toNetstack.size(), 1u) << "the pong came back";
  const Bytes& pong = a_->toNetstack[0];
  ASSERT_EQ(pong.size(), 31u);
  EXPECT_EQ(pong[9], IPPROTO_TSMP);
  EXPECT_EQ(hexEncode(ByteSpan(pong).subspan(12, 8)), "6440000264400001");
  EXPECT_EQ(hexEncode(ByteSpan(pong).subspan(20)), "6f01020304050607080000");

  Bytes advert(33, 0x5a);
  advert[0] = 'a';
  a_->path->fromNetstack(ipv4(IP_A, IP_B, IPPROTO_TSMP, advert), at(3));
  pump(3);
  ASSERT_EQ(b_->adverts.size(), 1u);
  EXPECT_EQ(b_->adverts[0].first, a_->path->publicKey());
  Key32 disco;
  disco.fill(0x5a);
  EXPECT_EQ(b_->adverts[0].second, disco);
  EXPECT_EQ(b_->toNetstack.size(), 1u);
}

TEST_F(DataPathPair, OwnTsmpPingHandshakesAndConsumesItsPong) {
  auto peer = a_->path->startPing(7, PingKind::TSMP, ByteSpan(IP_A), ByteSpan(IP_B), at(1));
  ASSERT_TRUE(peer) << peer.error().message;
  EXPECT_EQ(*peer, b_->path->publicKey());
  EXPECT_EQ(a_->path->pendingPings(), 1u);
  pump(1);  // handshake on demand, then the ping, then B's pong
  EXPECT_TRUE(b_->toNetstack.empty()) << "B answered the ping itself";
  EXPECT_TRUE(a_->toNetstack.empty()) << "the pong was consumed";
  ASSERT_EQ(a_->pongs.size(), 1u);
  EXPECT_EQ(a_->pongs[0], (std::pair<uint64_t, uint16_t>{7, 0}));
  EXPECT_EQ(a_->path->pendingPings(), 0u);
  EXPECT_EQ(a_->path->counters().pingsAnswered, 1u);

  // An unsolicited pong (no ping of ours has its data) still flows to netstackd.
  a_->path->fromNetstack(ipv4(IP_A, IP_B, IPPROTO_TSMP, *hexDecode("700102030405060708")), at(2));
  pump(2);
  EXPECT_EQ(a_->toNetstack.size(), 1u);
  EXPECT_EQ(a_->pongs.size(), 1u);
}

TEST_F(DataPathPair, OwnIcmpPingMatchesOnlyTheReplyFromThePingedAddress) {
  ASSERT_TRUE(a_->path->startPing(9, PingKind::ICMP, ByteSpan(IP_A), ByteSpan(IP_B), at(1)));
  pump(1);
  ASSERT_EQ(b_->toNetstack.size(), 1u) << "B's netstack gets the echo request";
  Bytes req = b_->toNetstack[0];
  ASSERT_EQ(req.size(), 28u);
  EXPECT_EQ(req[9], IPPROTO_ICMP);
  EXPECT_EQ(req[20], 8);
  // B's stack answers with a different id/seq first (someone else's ping): A's netstack gets it.
  Bytes other = req;
  std::swap_ranges(other.begin() + 12, other.begin() + 16, other.begin() + 16);
  other[20] = 0;
  other[24] ^= 0xff;
  b_->path->fromNetstack(other, at(2));
  pump(2);
  EXPECT_EQ(a_->toNetstack.size(), 1u);
  EXPECT_TRUE(a_->pongs.empty());
  // Now the real reply.
  Bytes rep = req;
  std::swap_ranges(rep.begin() + 12, rep.begin() + 16, rep.begin() + 16);
  rep[20] = 0;
  b_->path->fromNetstack(rep, at(3));
  pump(3);
  EXPECT_EQ(a_->toNetstack.size(), 1u) << "the matching reply is not delivered";
  ASSERT_EQ(a_->pongs.size(), 1u);
  EXPECT_EQ(a_->pongs[0].first, 9u);
  // The same reply again (a duplicate) is no longer ours: delivered.
  b_->path->fromNetstack(rep, at(4));
  pump(4);
  EXPECT_EQ(a_->toNetstack.size(), 2u);
  EXPECT_EQ(a_->pongs.size(), 1u);
}

TEST_F(DataPathPair, PingErrorsAndCancel) {
  const std::array<uint8_t, 4> nobody{100, 64, 0, 9};
  auto r = a_->path->startPing(1, PingKind::TSMP, ByteSpan(IP_A), ByteSpan(nobody), at(1));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "no matching peer");
  EXPECT_TRUE(a_->toMagicsock.empty()) << "nothing sent";
  const std::array<uint8_t, 16> v6{};
  EXPECT_EQ(a_->path->startPing(1, PingKind::ICMP, ByteSpan(IP_A), ByteSpan(v6), at(1)).error().kind,
            ErrorKind::INVALID);
  ASSERT_TRUE(a_->path->startPing(2, PingKind::TSMP, ByteSpan(IP_A), ByteSpan(IP_B), at(1)));
  EXPECT_FALSE(a_->path->startPing(2, PingKind::ICMP, ByteSpan(IP_A), ByteSpan(IP_B), at(1))) << "token in use";
  a_->path->cancelPing(2);
  EXPECT_EQ(a_->path->pendingPings(), 0u);
  pump(1);
  EXPECT_TRUE(a_->pongs.empty()) << "a cancelled ping's pong is not reported";
  EXPECT_EQ(a_->toNetstack.size(), 1u) << "it flows on like any unsolicited pong";
  for (uint64_t t = 0; t < MAX_PENDING_PINGS; ++t)
    ASSERT_TRUE(a_->path->startPing(100 + t, PingKind::ICMP, ByteSpan(IP_A), ByteSpan(IP_B), at(2)));
  EXPECT_EQ(a_->path->startPing(1, PingKind::ICMP, ByteSpan(IP_A), ByteSpan(IP_B), at(2)).error().kind,
            ErrorKind::OVERLOADED);
}

TEST_F(DataPathPair, NewNodeKeyDropsSessions) {
  a_->path->fromNetstack(ipv4(IP_A, IP_B), at(1));
  pump(1);
  ASSERT_EQ(b_->toNetstack.size(), 1u);
  const Key32 oldPub = a_->path->publicKey();
  Key32 fresh;
  crypto::generatePrivateKey(fresh);
  a_->path->setPrivateKey(fresh);
  EXPECT_NE(a_->path->publicKey(), oldPub);
  EXPECT_EQ(a_->path->peerReports(at(2))[0].state, PeerState::EXPIRED);
  a_->path->fromNetstack(ipv4(IP_A, IP_B), at(2));
  // A must handshake again, and B (still configured with the old key) refuses it.
  EXPECT_EQ(pump(2), (std::vector<uint8_t>{1}));
  EXPECT_EQ(b_->toNetstack.size(), 1u);
  // B learns the new key (ipnd's next config): B's traffic to A handshakes fresh.
  b_->path->setPeers({{a_->path->publicKey(), {prefix("100.64.0.1/32")}}});
  b_->path->fromNetstack(ipv4(IP_B, IP_A), at(3));
  pump(3);
  ASSERT_EQ(a_->toNetstack.size(), 1u);
}

// Hostile input on both pipes, deterministic (a seeded stream): random frames, real datagrams
// truncated or with bytes flipped, random IP packets. Nothing may crash (run under ASan+UBSan),
// nothing bogus may be delivered, and the session still works afterwards.
TEST_F(DataPathPair, HostileInputIsDroppedAndCounted) {
  a_->path->fromNetstack(ipv4(IP_A, IP_B), at(1));
  std::vector<Bytes> real;  // A's datagrams as B receives them
  for (const Bytes& f : a_->toMagicsock) {
    Bytes in(MAGICSOCK_HEADER_SIZE, 0);
    in.insert(in.end(), f.begin() + 32, f.end());
    real.push_back(in);
  }
  pump(1);
  a_->path->fromNetstack(ipv4(IP_A, IP_B), at(1.5));
  for (const Bytes& f : a_->toMagicsock) {
    Bytes in(MAGICSOCK_HEADER_SIZE, 0);
    in.insert(in.end(), f.begin() + 32, f.end());
    real.push_back(in);
  }
  pump(1.5);
  const size_t deliveredBefore = b_->toNetstack.size();
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < 20000; ++i) {
    Bytes frame;
    switch (next() % 3) {
      case 0:
        frame.resize(next() % 200);
        for (auto& b : frame) b = uint8_t(next());
        break;
      case 1: {
        frame = real[next() % real.size()];
        frame.resize(next() % (frame.size() + 1));
        break;
      }
      default: {
        frame = real[next() % real.size()];
        frame[MAGICSOCK_HEADER_SIZE + next() % (frame.size() - MAGICSOCK_HEADER_SIZE)] ^=
            uint8_t(1 + next() % 255);
        break;
      }
    }
    if (!frame.empty() && next() % 4 == 0)
      frame[std::min<size_t>(frame.size() - 1, 51)] = uint8_t(1 + next() % 4);
    b_->path->fromMagicsock(frame, at(2 + i * 1e-4));
    Bytes packet(next() % 120);
    for (auto& b : packet) b = uint8_t(next());
    b_->path->fromNetstack(packet, at(2 + i * 1e-4));
  }
  EXPECT_EQ(b_->toNetstack.size(), deliveredBefore) << "a corrupted datagram was delivered";
  uint64_t drops = b_->path->counters().malformedFrames;
  for (uint64_t d : b_->path->counters().drops) drops += d;
  EXPECT_GT(drops, 10000u);
  // The session survived (replayed and corrupted copies changed nothing).
  b_->toMagicsock.clear();
  a_->path->fromNetstack(ipv4(IP_A, IP_B, 17), at(5));
  pump(5);
  EXPECT_EQ(b_->toNetstack.size(), deliveredBefore + 1);
}

TEST(DataPath, OwnKeyAndLowOrderPeersAreRejected) {
  crypto::init();
  Node n;
  Key32 lowOrder{};  // the all-zero point
  auto rejected = n.path->setPeers({{n.path->publicKey(), {}}, {lowOrder, {}}});
  EXPECT_EQ(rejected.size(), 2u);
  EXPECT_EQ(n.path->peerCount(), 0u);
}

}  // namespace
}  // namespace tnet::wg
