// The wgd *process* on a UDP socket, for the wireguard-go interop test: this program plays
// magicsockd (UDP <-> wgd's datagram pipes, with the 51-byte header of schemas/wgd.capnp) and
// netstackd (ICMP echo over wgd's plaintext pipes), and ipnd (wgd.setConfig). wgd itself runs
// apart, on --runtime-dir, with no network at all.
//
//   --mode ping     send --count echo requests to --peer-tunnel-ip, succeed when every reply came
//   --mode answer   answer echo requests to --tunnel-ip until --count were answered
// Prints "RESULT key=value ..." (replies, answered, initiations, responses: the WireGuard message
// types wgd sent) and exits 0 on success, 1 on failure, 2 on bad usage.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "libs/base/bytes.h"
#include "libs/bus/bus.h"
#include "libs/bus/data_pipe.h"
#include "libs/wire/keys.h"
#include "schemas/common.capnp.h"
#include "schemas/wgd.capnp.h"

namespace {

using namespace tnet;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool parseAddrPort(const std::string& text, sockaddr_in& out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(&out, 0, sizeof out);
  out.sin_family = AF_INET;
  out.sin_port = htons(uint16_t(std::stoi(text.substr(colon + 1))));
  return inet_pton(AF_INET, text.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

uint16_t internetChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += uint32_t(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

Bytes icmpEcho(uint8_t type, const in_addr& src, const in_addr& dst, uint16_t id, uint16_t seq,
               ByteSpan payload) {
  Bytes p(28 + payload.size(), 0);
  p[0] = 0x45;
  putU16BE(p.data() + 2, uint16_t(p.size()));
  p[8] = 64;
  p[9] = 1;
  std::memcpy(p.data() + 12, &src, 4);
  std::memcpy(p.data() + 16, &dst, 4);
  putU16BE(p.data() + 10, internetChecksum(p.data(), 20));
  uint8_t* icmp = p.data() + 20;
  icmp[0] = type;
  putU16BE(icmp + 4, id);
  putU16BE(icmp + 6, seq);
  std::memcpy(icmp + 8, payload.data(), payload.size());
  putU16BE(icmp + 2, internetChecksum(icmp, 8 + payload.size()));
  return p;
}

int usage(const char* why) {
  std::fprintf(stderr, "wgd_udp_bridge: %s\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode, runtime, bind, peerEndpoint, peerPublicKey, tunnelIpText, peerTunnelIpText;
  int count = 3;
  double timeout = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--mode")
      mode = v;
    else if (k == "--runtime-dir")
      runtime = v;
    else if (k == "--bind")
      bind = v;
    else if (k == "--peer-endpoint")
      peerEndpoint = v;
    else if (k == "--peer-public-key")
      peerPublicKey = v;
    else if (k == "--tunnel-ip")
      tunnelIpText = v;
    else if (k == "--peer-tunnel-ip")
      peerTunnelIpText = v;
    else if (k == "--count")
      count = std::stoi(v);
    else if (k == "--timeout")
      timeout = std::stod(v);
    else
      return usage(("unknown flag " + k).c_str());
  }
  if (mode != "ping" && mode != "answer") return usage("--mode ping|answer");
  sockaddr_in bindAddr{}, peerAddr{};
  in_addr tunnelIp{}, peerTunnelIp{};
  if (!parseAddrPort(bind, bindAddr) || !parseAddrPort(peerEndpoint, peerAddr)) return usage("bad address");
  if (inet_pton(AF_INET, tunnelIpText.c_str(), &tunnelIp) != 1 ||
      inet_pton(AF_INET, peerTunnelIpText.c_str(), &peerTunnelIp) != 1) {
    return usage("bad tunnel address");
  }
  auto peerKey = key::NodePublic::parseUntyped(peerPublicKey);
  if (!peerKey) return usage("bad peer public key");
  crypto::init();

  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&bindAddr), sizeof bindAddr) != 0) {
    std::perror("wgd_udp_bridge: socket/bind");
    return 1;
  }

  bus::Loop loop;
  auto op = bus::Bus::create(loop, bus::BusOptions{runtime, "operator"});
  if (!op) return usage(op.error().message.c_str());
  mkdir((runtime + "/magicsockd").c_str(), 0700);
  mkdir((runtime + "/netstackd").c_str(), 0700);
  const auto backend = bus::defaultPipeBackend();
  int initiations = 0, responses = 0, replies = 0, answered = 0;
  std::unique_ptr<bus::PipeSender> toWgdDatagrams, toWgdPackets;
  // wgd -> magicsockd: [peer key][datagram] goes out of the UDP socket to the peer's endpoint.
  auto fromWgdDatagrams = bus::openPipeReceiverAs(**op, backend, "magicsockd", "wgd", [&](auto frames) {
    for (auto f : frames) {
      if (f.size() <= 32 || !std::equal(f.begin(), f.begin() + 32, peerKey->raw().begin())) continue;
      if (f[32] == 1) ++initiations;
      if (f[32] == 2) ++responses;
      sendto(fd, f.data() + 32, f.size() - 32, 0, reinterpret_cast<const sockaddr*>(&peerAddr),
             sizeof peerAddr);
    }
  });
  // wgd -> netstackd: echo replies are counted; echo requests to us are answered.
  auto fromWgdPackets = bus::openPipeReceiverAs(**op, backend, "netstackd", "wgd", [&](auto packets) {
    for (auto p : packets) {
      if (p.size() < 28 || p[0] != 0x45 || p[9] != 1 || internetChecksum(p.data() + 20, p.size() - 20) != 0)
        continue;
      const uint8_t type = p[20];
      if (type == 0 && mode == "ping") ++replies;
      if (type == 8 && mode == "answer" && std::memcmp(p.data() + 16, &tunnelIp, 4) == 0) {
        in_addr src;
        std::memcpy(&src, p.data() + 12, 4);
        Bytes reply = icmpEcho(0, tunnelIp, src, getU16BE(p.data() + 24), getU16BE(p.data() + 26),
                               ByteSpan(p.data() + 28, p.size() - 28));
        toWgdPackets->push(reply);
        toWgdPackets->flush();
        ++answered;
      }
    }
  });
  if (!fromWgdDatagrams || !fromWgdPackets) return usage("pipes");
  toWgdDatagrams = *bus::openPipeSenderAs(**op, backend, "magicsockd", "wgd");
  toWgdPackets = *bus::openPipeSenderAs(**op, backend, "netstackd", "wgd");

  // UDP -> wgd with magicsockd's header: the peer's key (this bridge knows only one peer), path
  // UDP, the source as an IPv4-mapped address and its port.
  auto udpWatch = loop.watchFd(fd, [&] {
    uint8_t buf[65536];
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = recvfrom(fd, buf + 51, sizeof buf - 51, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n <= 0) break;
      std::memcpy(buf, peerKey->raw().data(), 32);
      buf[32] = 0;
      std::memset(buf + 33, 0, 16);
      buf[43] = 0xff;
      buf[44] = 0xff;
      std::memcpy(buf + 45, &from.sin_addr, 4);
      std::memcpy(buf + 49, &from.sin_port, 2);
      toWgdDatagrams->push(ByteSpan(buf, 51 + size_t(n)));
    }
    toWgdDatagrams->flush();
  });

  // Wait for wgd, then configure it as ipnd would.
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout));
  while (!std::filesystem::exists(runtime + "/wgd/rpc") && Clock::now() < deadline) loop.runFor(20ms);
  std::optional<Result<bus::Reply>> ack;
  (*op)->call(
      "wgd", "wgd.setConfig",
      [&](capnp::AnyPointer::Builder b) {
        auto c = b.initAs<schema::WgConfig>();
        c.initGeneration().setEpoch(1);
        c.getGeneration().setN(1);
        c.initAddresses(1).set(0, tunnelIpText + "/32");
        auto peers = c.initPeers(1);
        peers[0].setNodePublic(peerKey->toString());
        peers[0].initAllowedIps(1).set(0, peerTunnelIpText + "/32");
      },
      5000ms, [&](Result<bus::Reply> r) { ack = std::move(r); });
  while (!ack && Clock::now() < deadline) loop.runFor(10ms);
  if (!ack || !*ack) {
    std::printf("RESULT configured=0\n");
    return 1;
  }

  const Bytes payload(32, 0x42);
  uint16_t seq = 0;
  auto nextPing = Clock::now();
  while (Clock::now() < deadline) {
    if (mode == "ping" && replies >= count) break;
    if (mode == "answer" && answered >= count) break;
    if (mode == "ping" && Clock::now() >= nextPing && seq < count * 20) {
      toWgdPackets->push(icmpEcho(8, tunnelIp, peerTunnelIp, 0x7e57, ++seq, payload));
      toWgdPackets->flush();
      nextPing = Clock::now() + 300ms;
    }
    loop.runFor(10ms);
  }
  const bool ok = mode == "ping" ? replies >= count : answered >= count;
  std::printf("RESULT replies=%d answered=%d initiations=%d responses=%d sent=%d\n", replies, answered,
              initiations, responses, int(seq));
  std::fflush(stdout);
  close(fd);
  return ok ? 0 : 1;
}
