// Fuzzes the WireGuard core through the entry point wgd uses: Device::handleDatagram.
//
// Input: a sequence of records [u16 little-endian length][datagram], fed in order to a fresh
// responder whose static key, peer and randomness are those of tailscale-dataplane-kat.json, so
// the seed corpus (the vector's initiation, keepalive and data packet) drives the whole path:
// handshake, key derivation, decryption, replay window, inner-packet checks, and — between records
// — timers via tick() and outbound packets via sendPacket(). A short final record is a sendPacket.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>

#include "services/wgd/core/device.h"

namespace {

using namespace tnet;
using namespace tnet::wg;

// Scripted like the unit tests: the vector's responder ephemeral and index, then a fixed stream.
class FuzzRandom final : public RandomSource {
 public:
  FuzzRandom() {
    Bytes eph(32), index{0x08, 0x07, 0x06, 0x05};
    for (size_t i = 0; i < 32; ++i) eph[i] = uint8_t(0x60 + i);
    queues_[32].push_back(eph);
    queues_[4].push_back(index);
  }
  void fill(MutableByteSpan out) override {
    auto& q = queues_[out.size()];
    if (!q.empty()) {
      std::copy(q.front().begin(), q.front().end(), out.begin());
      q.pop_front();
      return;
    }
    for (auto& b : out) b = uint8_t(++counter_ * 167 + 13);
  }

 private:
  std::map<size_t, std::deque<Bytes>> queues_;
  uint32_t counter_ = 0;
};

Key32 keyRange(uint8_t first) {
  Key32 k;
  for (size_t i = 0; i < 32; ++i) k[i] = uint8_t(first + i);
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crypto::init();
  FuzzRandom random;
  DeviceConfig config;
  config.privateKey = keyRange(0x40);  // the vector's responder
  config.random = &random;
  Device device(config);
  static const Key32 initiatorPub = [] {
    Key32 pub;
    crypto::x25519Base(pub, keyRange(0x00));
    return pub;
  }();
  PeerConfig peer;
  peer.publicKey = initiatorPub;
  peer.allowedIps = {*IpPrefix::parse("100.64.0.1/32"), *IpPrefix::parse("fd7a:115c:a1e0::1/128")};
  const PeerId id = *device.addPeer(peer);

  const Endpoint from = Endpoint::fromBytes(Bytes{10, 0, 0, 1, 0x12, 0x34});
  Now now{std::chrono::seconds(1), std::chrono::seconds(1700000000)};
  size_t pos = 0;
  while (pos + 2 <= size) {
    const size_t len = size_t(data[pos]) | (size_t(data[pos + 1]) << 8);
    pos += 2;
    const ByteSpan record(data + pos, std::min(len, size - pos));
    pos += record.size();
    if (record.size() < 8 && !record.empty()) {
      // Short records move time and send a packet back to the peer.
      now.mono += std::chrono::milliseconds(record[0]) * 100;
      auto t = device.tick(now);
      Bytes ip(28 + record.size(), 0);
      ip[0] = 0x45;
      ip[3] = uint8_t(ip.size());
      ip[12] = 100, ip[13] = 64, ip[15] = 2;
      ip[16] = 100, ip[17] = 64, ip[19] = 1;
      auto s = device.sendPacket(ip, now);
      (void)t;
      (void)s;
      continue;
    }
    auto r = device.handleDatagram(record, from, now);
    if (r.packet && r.packet->empty()) __builtin_trap();  // packets delivered are never empty
    if (r.packet && r.peer != id) __builtin_trap();       // only from the one authenticated peer
  }
  return 0;
}
