// The Device end to end in memory: the vectors through the public API, handshakes both ways,
// every drop reason the receive path has, key rotation, the staged queue and the timers.
#include "services/wgd/core/device.h"

#include <gtest/gtest.h>

#include "services/wgd/core/test_support.h"

namespace tnet::wg {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::ScriptedRandom;
using testing::vectorBytes;
using testing::vectorKey;

std::string hex(ByteSpan b) {
  return hexEncode(b);
}

const Endpoint EP_A = Endpoint::fromBytes(Bytes{10, 231, 0, 1, 0xca, 0x6c});
const Endpoint EP_B = Endpoint::fromBytes(Bytes{10, 231, 0, 2, 0xca, 0x6d});

// A minimal IPv4 packet (ICMP echo, 28 bytes + payload) from src to dst.
Bytes ipv4(std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst, size_t payload = 0) {
  Bytes p(28 + payload, 0xab);
  const size_t total = p.size();
  p[0] = 0x45;
  p[1] = 0;
  p[2] = uint8_t(total >> 8);
  p[3] = uint8_t(total);
  std::fill(p.begin() + 4, p.begin() + 12, 0);
  p[8] = 64;
  p[9] = 1;
  std::copy(src.begin(), src.end(), p.begin() + 12);
  std::copy(dst.begin(), dst.end(), p.begin() + 16);
  return p;
}

Bytes ipv6(std::array<uint8_t, 16> src, std::array<uint8_t, 16> dst, size_t payload) {
  Bytes p(40 + payload, 0xcd);
  p[0] = 0x60;
  p[1] = p[2] = p[3] = 0;
  p[4] = uint8_t(payload >> 8);
  p[5] = uint8_t(payload);
  p[6] = 58;
  p[7] = 64;
  std::copy(src.begin(), src.end(), p.begin() + 8);
  std::copy(dst.begin(), dst.end(), p.begin() + 24);
  return p;
}

IpPrefix prefix(std::string_view s) {
  return *IpPrefix::parse(s);
}

// Two devices, A (100.64.0.1) and B (100.64.0.2), each knowing the other.
class Pair : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    Key32 privA, privB;
    crypto::generatePrivateKey(privA);
    crypto::generatePrivateKey(privB);
    DeviceConfig ca;
    ca.privateKey = privA;
    ca.random = &randomA_;
    ca.timings = timingsA_;
    DeviceConfig cb;
    cb.privateKey = privB;
    cb.random = &randomB_;
    a_ = std::make_unique<Device>(ca);
    b_ = std::make_unique<Device>(cb);
    PeerConfig pb{b_->publicKey(), {prefix("100.64.0.2/32"), prefix("fd7a:115c:a1e0::2/128")}, EP_B};
    PeerConfig pa{a_->publicKey(), {prefix("100.64.0.1/32"), prefix("fd7a:115c:a1e0::1/128")}, EP_A};
    peerB_ = *a_->addPeer(pb);
    peerA_ = *b_->addPeer(pa);
  }

  // Feeds datagrams to `to`, returning everything it delivered and collecting what it sends.
  std::vector<DatagramResult> feed(Device& to, const Endpoint& from, const std::vector<Datagram>& in,
                                   Now now) {
    std::vector<DatagramResult> out;
    for (const Datagram& d : in) out.push_back(to.handleDatagram(d.bytes, from, now));
    return out;
  }

  // Runs datagrams back and forth until quiet; returns packets delivered to each side.
  void pump(std::vector<Datagram> fromA, std::vector<Datagram> fromB, Now now) {
    for (int round = 0; round < 10 && (!fromA.empty() || !fromB.empty()); ++round) {
      std::vector<Datagram> nextA, nextB;
      for (auto& r : feed(*b_, EP_A, fromA, now)) {
        if (r.packet) deliveredToB_.push_back(*r.packet);
        dropsB_.push_back(r.drop);
        for (auto& d : r.send) nextB.push_back(d);
      }
      for (auto& r : feed(*a_, EP_B, fromB, now)) {
        if (r.packet) deliveredToA_.push_back(*r.packet);
        dropsA_.push_back(r.drop);
        for (auto& d : r.send) nextA.push_back(d);
      }
      fromA = std::move(nextA);
      fromB = std::move(nextB);
    }
  }

  void handshake(Now now) { pump(a_->initiateHandshake(peerB_, now), {}, now); }

  ScriptedRandom randomA_, randomB_;
  ProtocolTimings timingsA_;
  std::unique_ptr<Device> a_, b_;
  PeerId peerB_ = NO_PEER, peerA_ = NO_PEER;
  std::vector<Bytes> deliveredToA_, deliveredToB_;
  std::vector<DropReason> dropsA_, dropsB_;
};

const std::array<uint8_t, 4> IP_A{100, 64, 0, 1}, IP_B{100, 64, 0, 2}, IP_X{100, 64, 0, 9};

TEST(WireguardDevice, ReproducesTheVectorsThroughThePublicApi) {
  auto v = testing::wireguardVectors();
  if (!v) GTEST_SKIP() << "tailscale-dataplane-kat.json not found (TNET_VECTORS_DIR)";
  ScriptedRandom randI, randR;
  randI.script(vectorBytes(*v, "initiator eph priv"));
  randI.script(Bytes{0x04, 0x03, 0x02, 0x01});  // sender index 0x01020304, little-endian
  randR.script(vectorBytes(*v, "responder eph priv"));
  randR.script(Bytes{0x08, 0x07, 0x06, 0x05});
  DeviceConfig ci{vectorKey(*v, "initiator static priv"), DEFAULT_TUN_MTU, {}, &randI};
  DeviceConfig cr{vectorKey(*v, "responder static priv"), DEFAULT_TUN_MTU, {}, &randR};
  Device i(ci), r(cr);
  PeerId toR = *i.addPeer({vectorKey(*v, "responder static pub"), {prefix("100.64.0.2/32")}, EP_B});
  PeerId toI = *r.addPeer({vectorKey(*v, "initiator static pub"), {prefix("100.64.0.1/32")}, EP_A});

  const Now t0 = at(0);  // wall clock 1700000000 s: the vector's timestamp
  auto init = i.initiateHandshake(toR, t0);
  ASSERT_EQ(init.size(), 1u);
  EXPECT_EQ(init[0].to, EP_B);
  EXPECT_EQ(hex(init[0].bytes), hex(vectorBytes(*v, "initiation (148)")));

  auto resp = r.handleDatagram(init[0].bytes, EP_A, t0);
  EXPECT_EQ(resp.drop, DropReason::NONE);
  EXPECT_EQ(resp.peer, toI);
  ASSERT_EQ(resp.send.size(), 1u);
  EXPECT_EQ(hex(resp.send[0].bytes), hex(vectorBytes(*v, "response (92)")));

  auto ka = i.handleDatagram(resp.send[0].bytes, EP_B, t0);
  ASSERT_EQ(ka.send.size(), 1u);
  EXPECT_EQ(hex(ka.send[0].bytes), hex(vectorBytes(*v, "keepalive i->r ctr 0")));

  const Bytes icmp = vectorBytes(*v, "inner IPv4 ICMP echo");
  auto data = i.sendPacket(icmp, t0);
  EXPECT_EQ(data.peer, toR);
  ASSERT_EQ(data.send.size(), 1u);
  EXPECT_EQ(hex(data.send[0].bytes), hex(vectorBytes(*v, "data i->r ctr 1 (64)")));

  auto gotKa = r.handleDatagram(ka.send[0].bytes, EP_A, t0);
  EXPECT_TRUE(gotKa.keepalive);
  auto got = r.handleDatagram(data.send[0].bytes, EP_A, t0);
  ASSERT_TRUE(got.packet);
  EXPECT_EQ(hex(*got.packet), hex(icmp));  // padding stripped by the IP length
  EXPECT_EQ(got.peer, toI);
}

TEST_F(Pair, HandshakeOnFirstPacketThenBothDirections) {
  const Bytes p1 = ipv4(IP_A, IP_B, 100);
  auto s = a_->sendPacket(p1, at(0));
  EXPECT_EQ(s.peer, peerB_);
  ASSERT_EQ(s.send.size(), 1u);  // the initiation; the packet waits
  EXPECT_EQ(s.send[0].bytes.size(), wire::WG_INITIATION_SIZE);
  EXPECT_EQ(a_->peerStatus(peerB_)->stagedPackets, 1u);
  pump(s.send, {}, at(0));
  ASSERT_EQ(deliveredToB_.size(), 1u);
  EXPECT_EQ(deliveredToB_[0], p1);
  EXPECT_TRUE(a_->peerStatus(peerB_)->hasCurrentKeypair);
  EXPECT_TRUE(b_->peerStatus(peerA_)->hasCurrentKeypair);  // confirmed by A's first packet

  const Bytes p2 = ipv4(IP_B, IP_A, 1);
  auto back = b_->sendPacket(p2, at(1));
  ASSERT_EQ(back.send.size(), 1u);
  EXPECT_EQ(back.send[0].to, EP_A);
  pump({}, back.send, at(1));
  ASSERT_EQ(deliveredToA_.size(), 1u);
  EXPECT_EQ(deliveredToA_[0], p2);

  const Bytes p6 = ipv6({0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
                        {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, 33);
  auto v6 = a_->sendPacket(p6, at(2));
  ASSERT_EQ(v6.send.size(), 1u);
  pump(v6.send, {}, at(2));
  ASSERT_EQ(deliveredToB_.size(), 2u);
  EXPECT_EQ(deliveredToB_[1], p6);
}

TEST_F(Pair, ResponderHoldsNextKeypairUntilConfirmed) {
  auto init = a_->initiateHandshake(peerB_, at(0));
  auto resp = feed(*b_, EP_A, init, at(0));
  ASSERT_EQ(resp[0].send.size(), 1u);
  EXPECT_FALSE(b_->peerStatus(peerA_)->hasCurrentKeypair);
  // B has data for A before A's confirmation: B may not use the unconfirmed pair. It would start
  // its own handshake, but it just sent a response (handshakes are REKEY_TIMEOUT apart), so the
  // packet waits.
  auto early = b_->sendPacket(ipv4(IP_B, IP_A), at(0));
  EXPECT_TRUE(early.send.empty());
  EXPECT_EQ(b_->peerStatus(peerA_)->stagedPackets, 1u);
  // A's keepalive confirms the pair; B releases the staged packet.
  auto fromA = feed(*a_, EP_B, resp[0].send, at(0));
  ASSERT_EQ(fromA[0].send.size(), 1u);
  EXPECT_EQ(fromA[0].send[0].bytes.size(), wire::WG_KEEPALIVE_SIZE);
  auto conf = feed(*b_, EP_A, fromA[0].send, at(0));
  EXPECT_TRUE(conf[0].keepalive);
  EXPECT_TRUE(b_->peerStatus(peerA_)->hasCurrentKeypair);
  ASSERT_EQ(conf[0].send.size(), 1u);
  auto atA = feed(*a_, EP_B, conf[0].send, at(0));
  ASSERT_TRUE(atA[0].packet);
}

TEST_F(Pair, ReplayedAndFloodedInitiationsAreRejected) {
  auto init = a_->initiateHandshake(peerB_, at(0));
  auto first = feed(*b_, EP_A, init, at(0));
  EXPECT_EQ(first[0].drop, DropReason::NONE);
  auto again = feed(*b_, EP_A, init, at(1));
  EXPECT_EQ(again[0].drop, DropReason::REPLAYED_INITIATION);
  EXPECT_TRUE(again[0].send.empty());
  // A fresh initiation (newer timestamp) within 20 ms of the last accepted one is a flood.
  a_ = nullptr;
  b_ = nullptr;
  SetUp();  // a fresh pair, so B's last accepted initiation is at mono 0
  auto i1 = a_->initiateHandshake(peerB_, at(0));
  EXPECT_EQ(feed(*b_, EP_A, i1, at(0))[0].drop, DropReason::NONE);
  auto i2 = a_->initiateHandshake(peerB_, at(5.0));  // REKEY_TIMEOUT later on A's clock
  Now bNow = at(0.015);
  bNow.wall = at(5.0).wall;
  EXPECT_EQ(feed(*b_, EP_A, i2, bNow)[0].drop, DropReason::HANDSHAKE_FLOOD);
  bNow.mono = at(0.021).mono;
  EXPECT_EQ(feed(*b_, EP_A, i2, bNow)[0].drop, DropReason::NONE);
}

TEST_F(Pair, InitiationsAreSpacedByRekeyTimeout) {
  EXPECT_EQ(a_->initiateHandshake(peerB_, at(0)).size(), 1u);
  EXPECT_EQ(a_->initiateHandshake(peerB_, at(4.9)).size(), 0u);
  EXPECT_EQ(a_->initiateHandshake(peerB_, at(5.0)).size(), 1u);
}

TEST_F(Pair, TransportDropReasons) {
  handshake(at(0));
  auto s = a_->sendPacket(ipv4(IP_A, IP_B, 10), at(1));
  ASSERT_EQ(s.send.size(), 1u);
  Bytes pkt = s.send[0].bytes;
  EXPECT_TRUE(b_->handleDatagram(pkt, EP_A, at(1)).packet);
  EXPECT_EQ(b_->handleDatagram(pkt, EP_A, at(1)).drop, DropReason::REPLAYED_COUNTER);
  Bytes tampered = a_->sendPacket(ipv4(IP_A, IP_B, 10), at(1)).send[0].bytes;
  tampered[20] ^= 1;
  EXPECT_EQ(b_->handleDatagram(tampered, EP_A, at(1)).drop, DropReason::DECRYPT_FAILED);
  Bytes unknown = pkt;
  putU32LE(unknown.data() + 4, getU32LE(unknown.data() + 4) ^ 0x5a5a5a5a);
  EXPECT_EQ(b_->handleDatagram(unknown, EP_A, at(1)).drop, DropReason::UNKNOWN_INDEX);

  // A's AllowedIPs on B are 100.64.0.1: a packet claiming another source is refused after
  // authentication (A routes it to B because the destination is B's).
  auto spoof = a_->sendPacket(ipv4(IP_X, IP_B), at(1));
  ASSERT_EQ(spoof.send.size(), 1u);
  auto r = b_->handleDatagram(spoof.send[0].bytes, EP_A, at(1));
  EXPECT_EQ(r.drop, DropReason::DISALLOWED_SOURCE);
  EXPECT_FALSE(r.packet);

  EXPECT_EQ(a_->sendPacket(ipv4(IP_A, IP_X), at(1)).drop, DropReason::NO_ROUTE);
  EXPECT_EQ(a_->sendPacket(Bytes{0x45, 0, 0}, at(1)).drop, DropReason::INVALID_INNER_PACKET);
  EXPECT_EQ(a_->sendPacket(Bytes(70000, 0x45), at(1)).drop, DropReason::PACKET_TOO_LARGE);

  // A key pair older than REJECT_AFTER_TIME is not used for receiving.
  Bytes late = a_->sendPacket(ipv4(IP_A, IP_B), at(2)).send[0].bytes;
  EXPECT_EQ(b_->handleDatagram(late, EP_A, at(181)).drop, DropReason::KEYPAIR_EXPIRED);
}

TEST_F(Pair, InnerPacketWithBadLengthIsDropped) {
  handshake(at(0));
  Bytes p = ipv4(IP_A, IP_B, 10);
  p[2] = 0x10;  // claims 4096 bytes
  auto s = a_->sendPacket(p, at(0));
  EXPECT_EQ(b_->handleDatagram(s.send[0].bytes, EP_A, at(0)).drop, DropReason::INVALID_INNER_PACKET);
}

TEST_F(Pair, MalformedDatagramsAreDroppedQuietly) {
  for (Bytes d : {Bytes{}, Bytes{1}, Bytes{4, 0, 0, 0}, Bytes(147, 0), Bytes(148, 0), Bytes(92, 0),
                  Bytes(64, 0), Bytes(31, 0), Bytes(40, 0)}) {
    if (d.size() >= 4) d[0] = d.size() == 148 ? 1 : d.size() == 92 ? 2 : d.size() == 64 ? 3 : 4;
    auto r = b_->handleDatagram(d, EP_A, at(0));
    EXPECT_NE(r.drop, DropReason::NONE) << d.size();
    EXPECT_TRUE(r.send.empty());
    EXPECT_FALSE(r.packet);
  }
  Bytes badType(148, 0);
  badType[0] = 1;
  badType[1] = 1;  // type bytes must be zero after the first
  EXPECT_EQ(b_->handleDatagram(badType, EP_A, at(0)).drop, DropReason::MALFORMED);
  Bytes init = a_->initiateHandshake(peerB_, at(0))[0].bytes;
  init[120] ^= 1;  // inside mac1
  EXPECT_EQ(b_->handleDatagram(init, EP_A, at(0)).drop, DropReason::INVALID_MAC1);
}

TEST_F(Pair, UnknownPeerInitiationIsDropped) {
  DeviceConfig cc;
  crypto::generatePrivateKey(cc.privateKey);
  Device c(cc);
  PeerId toB = *c.addPeer({b_->publicKey(), {prefix("100.64.0.2/32")}, EP_B});
  auto init = c.initiateHandshake(toB, at(0));
  EXPECT_EQ(b_->handleDatagram(init[0].bytes, EP_A, at(0)).drop, DropReason::UNKNOWN_PEER);
}

TEST_F(Pair, AddPeerRejectsBadKeys) {
  EXPECT_FALSE(a_->addPeer({a_->publicKey(), {}, {}}));  // ourselves
  EXPECT_FALSE(a_->addPeer({b_->publicKey(), {}, {}}));  // duplicate
  EXPECT_FALSE(a_->addPeer({Key32{}, {}, {}}));          // low-order (zero) key
}

TEST_F(Pair, UnderLoadTheResponderAsksForACookie) {
  b_->noteHandshakeBacklog(UNDER_LOAD_QUEUE_LENGTH, at(0));
  auto init = a_->initiateHandshake(peerB_, at(0));
  auto r = b_->handleDatagram(init[0].bytes, EP_A, at(0));
  EXPECT_EQ(r.drop, DropReason::COOKIE_REQUIRED);
  ASSERT_EQ(r.send.size(), 1u);
  EXPECT_EQ(r.send[0].bytes.size(), wire::WG_COOKIE_REPLY_SIZE);
  EXPECT_EQ(r.send[0].to, EP_A);
  EXPECT_EQ(getU32LE(r.send[0].bytes.data() + 4), getU32LE(init[0].bytes.data() + 4));
  auto c = a_->handleDatagram(r.send[0].bytes, EP_B, at(0.1));
  EXPECT_EQ(c.drop, DropReason::NONE);
  EXPECT_EQ(c.peer, peerB_);
  // A cookie reply that does not authenticate is refused.
  Bytes bad = r.send[0].bytes;
  bad[40] ^= 1;
  EXPECT_EQ(a_->handleDatagram(bad, EP_B, at(0.1)).drop, DropReason::INVALID_COOKIE_REPLY);

  // The retransmission carries mac2 and is accepted while B is still under load.
  auto t = a_->tick(at(5.4));
  ASSERT_EQ(t.send.size(), 1u);
  b_->noteHandshakeBacklog(UNDER_LOAD_QUEUE_LENGTH, at(5.4));
  auto ok = b_->handleDatagram(t.send[0].bytes, EP_A, at(5.4));
  EXPECT_EQ(ok.drop, DropReason::NONE);
  ASSERT_EQ(ok.send.size(), 1u);
  EXPECT_EQ(ok.send[0].bytes.size(), wire::WG_RESPONSE_SIZE);
  // The cookie is bound to A's endpoint: the same message from elsewhere gets another cookie reply.
  auto t2 = a_->initiateHandshake(peerB_, at(10.5));
  auto moved = b_->handleDatagram(t2[0].bytes, Endpoint::fromBytes(Bytes{1, 2, 3, 4, 5, 6}), at(5.5));
  EXPECT_EQ(moved.drop, DropReason::COOKIE_REQUIRED);
}

TEST_F(Pair, RetransmitsThenGivesUp) {
  auto s = a_->sendPacket(ipv4(IP_A, IP_B), at(0));
  ASSERT_EQ(s.send.size(), 1u);
  auto d = a_->nextDeadline();
  ASSERT_TRUE(d);
  EXPECT_GE(*d, 5s);
  EXPECT_LT(*d, 5334ms);
  int initiations = 1;
  double t = 0;
  for (int i = 0; i < 40; ++i) {
    auto next = a_->nextDeadline();
    if (!next || *next >= 500s) break;
    t = std::chrono::duration<double>(*next).count();
    auto r = a_->tick(at(t));
    initiations += int(r.send.size());
  }
  EXPECT_EQ(initiations, int(MAX_TIMER_HANDSHAKES) + 2);  // wireguard-go: gives up after 20 tries
  EXPECT_GT(t, 90.0);
  EXPECT_EQ(a_->peerStatus(peerB_)->stagedPackets, 0u);  // the waiting packet was dropped
}

TEST_F(Pair, PassiveKeepaliveAfterReceivingOnly) {
  handshake(at(0));
  auto s = a_->sendPacket(ipv4(IP_A, IP_B), at(1));
  pump(s.send, {}, at(1));
  ASSERT_EQ(deliveredToB_.size(), 1u);
  EXPECT_TRUE(b_->tick(at(10.9)).send.empty());
  auto k = b_->tick(at(11));
  ASSERT_EQ(k.send.size(), 1u);
  EXPECT_EQ(k.send[0].bytes.size(), wire::WG_KEEPALIVE_SIZE);
  EXPECT_TRUE(a_->handleDatagram(k.send[0].bytes, EP_B, at(11)).keepalive);
}

TEST_F(Pair, NewHandshakeWhenDataGetsNoAnswer) {
  handshake(at(0));
  auto s = a_->sendPacket(ipv4(IP_A, IP_B), at(10));
  ASSERT_EQ(s.send.size(), 1u);
  EXPECT_TRUE(a_->tick(at(24.9)).send.empty());
  auto r = a_->tick(at(25.34));  // KEEPALIVE + REKEY_TIMEOUT + jitter < 334 ms
  ASSERT_EQ(r.send.size(), 1u);
  EXPECT_EQ(r.send[0].bytes.size(), wire::WG_INITIATION_SIZE);
}

TEST_F(Pair, RekeyAfterTimeRotatesAndPreviousStillDecrypts) {
  handshake(at(0));
  EXPECT_EQ(a_->peerStatus(peerB_)->sessionsDerived, 1u);
  Bytes old = a_->sendPacket(ipv4(IP_A, IP_B), at(100)).send[0].bytes;
  // Past REKEY_AFTER_TIME the initiator's next send also starts a handshake.
  auto s = a_->sendPacket(ipv4(IP_A, IP_B), at(121));
  ASSERT_EQ(s.send.size(), 2u);
  EXPECT_EQ(s.send[1].bytes.size(), wire::WG_INITIATION_SIZE);
  pump(s.send, {}, at(121));
  EXPECT_EQ(a_->peerStatus(peerB_)->sessionsDerived, 2u);
  EXPECT_EQ(b_->peerStatus(peerA_)->sessionsDerived, 2u);
  const size_t before = deliveredToB_.size();
  // A packet sealed with the previous pair, arriving late, still decrypts.
  auto late = b_->handleDatagram(old, EP_A, at(122));
  EXPECT_TRUE(late.packet);
  auto fresh = a_->sendPacket(ipv4(IP_A, IP_B), at(123));
  ASSERT_EQ(fresh.send.size(), 1u);
  pump(fresh.send, {}, at(123));
  EXPECT_EQ(deliveredToB_.size(), before + 1);
}

TEST_F(Pair, ShortRekeyAfterTimeForTests) {
  timingsA_.rekeyAfterTime = 3s;
  a_ = nullptr;
  b_ = nullptr;
  SetUp();
  handshake(at(0));
  EXPECT_EQ(a_->sendPacket(ipv4(IP_A, IP_B), at(2)).send.size(), 1u);
  auto s = a_->sendPacket(ipv4(IP_A, IP_B), at(5.5));
  ASSERT_EQ(s.send.size(), 2u);
  pump(s.send, {}, at(5.5));
  EXPECT_EQ(b_->peerStatus(peerA_)->sessionsDerived, 2u);
}

TEST_F(Pair, KeyMaterialErasedAfterThreeRejectAfterTimes) {
  handshake(at(0));
  EXPECT_TRUE(a_->peerStatus(peerB_)->hasCurrentKeypair);
  a_->tick(at(539));
  EXPECT_TRUE(a_->peerStatus(peerB_)->hasCurrentKeypair);
  a_->tick(at(540));
  EXPECT_FALSE(a_->peerStatus(peerB_)->hasCurrentKeypair);
}

TEST_F(Pair, StagedQueueKeepsTheNewest128) {
  std::vector<Datagram> first;
  for (int i = 0; i < 200; ++i) {
    auto s = a_->sendPacket(ipv4(IP_A, IP_B, size_t(i)), at(0));
    for (auto& d : s.send) first.push_back(d);
  }
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(a_->peerStatus(peerB_)->stagedPackets, QUEUE_STAGED_SIZE);
  pump(first, {}, at(0));
  ASSERT_EQ(deliveredToB_.size(), QUEUE_STAGED_SIZE);
  EXPECT_EQ(deliveredToB_.front().size(), 28u + 72u);  // packets 0..71 made room
  EXPECT_EQ(deliveredToB_.back().size(), 28u + 199u);
}

TEST_F(Pair, PaddingToSixteenCappedAtMtu) {
  handshake(at(0));
  auto size = [&](size_t payload) {
    return a_->sendPacket(ipv4(IP_A, IP_B, payload), at(1)).send.at(0).bytes.size();
  };
  EXPECT_EQ(size(0), 32u + 32u);            // 28 -> 32
  EXPECT_EQ(size(4), 32u + 32u);            // 32 stays 32
  EXPECT_EQ(size(1275 - 28), 32u + 1280u);  // 1275 -> 1280
  EXPECT_EQ(size(1280 - 28), 32u + 1280u);
  EXPECT_EQ(size(1290 - 28), 32u + 1296u);  // past the MTU: 1290 % 1280 = 10 -> 16
  EXPECT_EQ(size(wire::WG_MAX_CONTENT_SIZE - 28), wire::WG_MAX_MESSAGE_SIZE);  // no padding past 65535
}

TEST_F(Pair, CountersPastRekeyAfterMessagesTriggerRekey) {
  timingsA_.rekeyAfterMessages = 3;
  a_ = nullptr;
  b_ = nullptr;
  SetUp();
  handshake(at(0));                                                    // counter 0 used by the keepalive
  EXPECT_EQ(a_->sendPacket(ipv4(IP_A, IP_B), at(6)).send.size(), 1u);  // 1
  EXPECT_EQ(a_->sendPacket(ipv4(IP_A, IP_B), at(6)).send.size(), 1u);  // 2
  EXPECT_EQ(a_->sendPacket(ipv4(IP_A, IP_B), at(6)).send.size(), 2u);  // 3, then sendNonce 4 > 3: rekey
  EXPECT_EQ(a_->sendPacket(ipv4(IP_A, IP_B), at(6)).send.size(), 1u);  // handshakes are spaced
}

TEST_F(Pair, PersistentKeepaliveWhenConfigured) {
  DeviceConfig cc;
  crypto::generatePrivateKey(cc.privateKey);
  Device c(cc);
  PeerConfig pc{b_->publicKey(), {prefix("100.64.0.2/32")}, EP_B, 25};
  PeerId toB = *c.addPeer(pc);
  b_->addPeer({c.publicKey(), {prefix("100.64.0.3/32")}, EP_A}).value();
  auto init = c.initiateHandshake(toB, at(0));
  auto resp = b_->handleDatagram(init[0].bytes, EP_A, at(0));
  auto ka = c.handleDatagram(resp.send.at(0).bytes, EP_B, at(0));
  ASSERT_EQ(ka.send.size(), 1u);
  EXPECT_TRUE(c.tick(at(24.9)).send.empty());
  auto t = c.tick(at(25));
  ASSERT_EQ(t.send.size(), 1u);
  EXPECT_EQ(t.send[0].bytes.size(), wire::WG_KEEPALIVE_SIZE);
  EXPECT_TRUE(b_->handleDatagram(t.send[0].bytes, EP_A, at(25)).keepalive);
}

TEST_F(Pair, ManyHandshakesInASecondPutTheDeviceUnderLoad) {
  // 128 handshake messages within one second (valid mac1, unknown peers) switch on cookies.
  DeviceConfig cc;
  crypto::generatePrivateKey(cc.privateKey);
  Device c(cc);
  PeerId toB = *c.addPeer({b_->publicKey(), {prefix("100.64.0.2/32")}, EP_B});
  DropReason last = DropReason::NONE;
  for (size_t i = 0; i < UNDER_LOAD_QUEUE_LENGTH; ++i) {
    auto init = c.initiateHandshake(toB, at(double(i) * 5.0));  // spaced by REKEY_TIMEOUT on c's clock
    last = b_->handleDatagram(init.at(0).bytes, EP_A, at(0.001 * double(i))).drop;
    if (i + 1 < UNDER_LOAD_QUEUE_LENGTH) {
      EXPECT_EQ(last, DropReason::UNKNOWN_PEER) << i;
    }
  }
  EXPECT_EQ(last, DropReason::COOKIE_REQUIRED);
  // A second later the load has passed.
  auto init = c.initiateHandshake(toB, at(1000));
  EXPECT_EQ(b_->handleDatagram(init.at(0).bytes, EP_A, at(2.5)).drop, DropReason::UNKNOWN_PEER);
}

TEST_F(Pair, RemovedPeerIsForgotten) {
  handshake(at(0));
  Bytes pkt = a_->sendPacket(ipv4(IP_A, IP_B), at(1)).send.at(0).bytes;
  b_->removePeer(peerA_);
  EXPECT_FALSE(b_->peerStatus(peerA_));
  EXPECT_EQ(b_->handleDatagram(pkt, EP_A, at(1)).drop, DropReason::UNKNOWN_INDEX);
  EXPECT_EQ(b_->sendPacket(ipv4(IP_B, IP_A), at(1)).drop, DropReason::NO_ROUTE);
  auto init = a_->initiateHandshake(peerB_, at(10));
  EXPECT_EQ(b_->handleDatagram(init.at(0).bytes, EP_A, at(10)).drop, DropReason::UNKNOWN_PEER);
}

TEST_F(Pair, ForgedResponseDoesNotKillThePendingHandshake) {
  // Anyone who knows A's public key can compute mac1 and read the sender index off the wire; a
  // response that does not authenticate must leave A's handshake intact (wireguard-go computes
  // into temporaries for the same reason).
  auto init = a_->initiateHandshake(peerB_, at(0));
  wire::WgResponse forged;
  forged.sender = 42;
  forged.receiver = getU32LE(init.at(0).bytes.data() + 4);
  crypto::Key32 junkPriv;
  crypto::generatePrivateKey(junkPriv);
  crypto::x25519Base(forged.ephemeral, junkPriv);
  Bytes forgedBytes = wire::serializeWgResponse(forged);
  CookieGenerator macs;
  macs.init(a_->publicKey());
  macs.addMacs(forgedBytes, 0s);
  EXPECT_EQ(a_->handleDatagram(forgedBytes, EP_B, at(0)).drop, DropReason::HANDSHAKE_INVALID);
  auto resp = b_->handleDatagram(init.at(0).bytes, EP_A, at(0));
  auto ok = a_->handleDatagram(resp.send.at(0).bytes, EP_B, at(0));
  EXPECT_EQ(ok.drop, DropReason::NONE);
  EXPECT_TRUE(a_->peerStatus(peerB_)->hasCurrentKeypair);
  // And the same response again is unexpected now (no initiation outstanding).
  EXPECT_EQ(a_->handleDatagram(resp.send.at(0).bytes, EP_B, at(0)).drop, DropReason::UNEXPECTED_RESPONSE);
}

}  // namespace
}  // namespace tnet::wg
