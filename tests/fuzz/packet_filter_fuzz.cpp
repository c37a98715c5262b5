// libFuzzer: the packet parser and the inbound filter on arbitrary packets. The first input byte
// picks the filter configuration (shields-up, rule shapes); the rest is the packet. Invariants: no
// crash; parsed offsets stay within the packet; shields-up never accepts a TCP SYN or UDP packet
// without a tracked flow; a packet to an address that is not ours is always dropped.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "services/netstackd/core/filter.h"

using namespace tnet::netstack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  uint8_t mode = data[0];
  std::span<const uint8_t> pkt(data + 1, size - 1);
  PacketInfo info;
  if (parsePacket(pkt, info) != ParseStatus::OK) return 0;
  if (info.totalLength > pkt.size() || info.transportOffset > info.totalLength) std::abort();
  Addr me = Addr::v4(100, 64, 0, 1);
  Addr me6;
  me6.v6 = true;
  me6.bytes[0] = 0xfd;
  me6.bytes[1] = 0x7a;
  me6.bytes[15] = 1;
  bool shieldsUp = mode & 1;
  std::vector<FilterRuleSpec> rules;
  if (mode & 2) rules.push_back({{"*"}, {{"*", -1, 0, 65535}}, {}});
  if (mode & 4) rules.push_back({{"100.64.0.0/10", "fd7a::/16"}, {{"100.64.0.1", -1, 22, 443}}, {6, 17}});
  if (mode & 8) rules.push_back({{"100.64.0.2-100.64.0.9"}, {{"fd7a::1", -1, 1, 1}}, {}});
  Filter f;
  f.configure({me, me6}, (mode & 16) == 0, rules, shieldsUp);
  if (mode & 32) {
    // Pretend we sent the mirror image first: its reply must then pass.
    PacketInfo out = info;
    std::swap(out.src, out.dst);
    std::swap(out.srcPort, out.dstPort);
    f.runOut(out);
  }
  auto r = f.runIn(info);
  if (r.verdict == Verdict::ACCEPT) {
    if (!(info.dst == me || info.dst == me6)) std::abort();
    if (shieldsUp && !(mode & 32) && !info.fragment && (info.isTcpSyn() || info.proto == PROTO_UDP))
      std::abort();
  }
  return 0;
}
