// Fuzzes wgd's packet path through the entry points the wgd process uses: DataPath::fromMagicsock
// (magicsockd's 51-byte header + a WireGuard datagram) and DataPath::fromNetstack (a bare IP
// packet from netstackd, where TSMP is intercepted), plus the IP/TSMP/ICMP echo parsers directly.
// wgd's own pings (startPing, TSMP and ICMP, v4 and v6) are pending throughout, so the pong and
// echo-reply matching runs on every delivered packet; a tick record with an odd second byte
// cancels one of them.
//
// Input: records [u8 kind][u16 little-endian length][bytes]; kind % 3: 0 from magicsockd,
// 1 from netstackd (also parsed as IP + TSMP), 2 advances time by bytes[0] * 100 ms and ticks.
// The node has one configured peer with 100.64.0.2/32, so packets to it start handshakes.
#include <cstddef>
#include <cstdint>

#include "services/wgd/core/data_path.h"
#include "services/wgd/core/icmp_echo.h"
#include "services/wgd/core/tsmp.h"

namespace {

using namespace tnet;
using namespace tnet::wg;

class CountingRandom final : public RandomSource {
 public:
  void fill(MutableByteSpan out) override {
    for (auto& b : out) b = uint8_t(++counter_ * 167 + 13);
  }

 private:
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
  CountingRandom random;
  uint64_t delivered = 0;
  DataPathOutput out;
  out.toMagicsock = [&](ByteSpan frame) {
    if (frame.size() <= MAGICSOCK_TAG_SIZE) __builtin_trap();  // always tagged, never empty
  };
  out.toNetstack = [&](ByteSpan packet) {
    if (packet.empty()) __builtin_trap();
    ++delivered;
  };
  out.discoAdvert = [](const Key32&, const Key32&) {};
  out.pingAnswered = [](uint64_t token, uint16_t) {
    if (token == 0 || token > 4) __builtin_trap();
  };
  DataPath path(keyRange(0x40), out, &random);
  static const Key32 peerPub = [] {
    Key32 pub;
    crypto::x25519Base(pub, keyRange(0x00));
    return pub;
  }();
  PeerSpec peer;
  peer.publicKey = peerPub;
  peer.allowedIps = {*IpPrefix::parse("100.64.0.2/32"), *IpPrefix::parse("fd7a:115c:a1e0::2/128")};
  path.setPeers({peer});

  Now now{std::chrono::seconds(1), std::chrono::seconds(1700000000)};
  const uint8_t selfV4[4] = {100, 64, 0, 1}, peerV4[4] = {100, 64, 0, 2};
  const uint8_t selfV6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  uint8_t peerV6[16];
  std::copy(selfV6, selfV6 + 16, peerV6);
  peerV6[15] = 2;
  if (!path.startPing(1, PingKind::TSMP, ByteSpan(selfV4), ByteSpan(peerV4), now)) __builtin_trap();
  if (!path.startPing(2, PingKind::ICMP, ByteSpan(selfV4), ByteSpan(peerV4), now)) __builtin_trap();
  if (!path.startPing(3, PingKind::TSMP, ByteSpan(selfV6), ByteSpan(peerV6), now)) __builtin_trap();
  if (!path.startPing(4, PingKind::ICMP, ByteSpan(selfV6), ByteSpan(peerV6), now)) __builtin_trap();
  uint64_t nextCancel = 1;
  size_t pos = 0;
  while (pos + 3 <= size) {
    const uint8_t kind = data[pos] % 3;
    const size_t len = size_t(data[pos + 1]) | (size_t(data[pos + 2]) << 8);
    pos += 3;
    const ByteSpan record(data + pos, std::min(len, size - pos));
    pos += record.size();
    switch (kind) {
      case 0:
        path.fromMagicsock(record, now);
        break;
      case 1: {
        if (auto ip = parseIp(record)) {
          if (ip->payload.size() > record.size()) __builtin_trap();
          (void)parseTsmp(*ip);
          (void)parseTsmpPong(*ip);
          (void)parseIcmpEchoReply(*ip);
        }
        path.fromNetstack(record, now);
        break;
      }
      default:
        now.mono += std::chrono::milliseconds(record.empty() ? 1 : record[0]) * 100;
        if (record.size() >= 2 && (record[1] & 1) && nextCancel <= 4) path.cancelPing(nextCancel++);
        path.tick(now);
        break;
    }
  }
  // Nothing from an unauthenticated sender reaches netstackd: no valid session exists without
  // the peer's private key, which the input cannot know.
  if (delivered != 0) __builtin_trap();
  (void)path.peerReports(now);
  return 0;
}
