// A WireGuard peer made of our core and one UDP socket, for the wireguard-go interop test. It has
// no TUN device: it builds and checks the ICMP packets inside the tunnel itself.
//
//   --mode ping     send --count echo requests to --peer-tunnel-ip, succeed when every reply came
//   --mode answer   answer echo requests to --tunnel-ip until --count were answered
//   --mode rekey    ping every --interval for --duration seconds with REKEY_AFTER_TIME set to
//                   --rekey-after; succeed when every reply came and a second session was derived
//   --mode cookie   put the peer under load with a burst of copies of our initiation (it answers
//                   with cookie replies, which we must open), then, 5 s later and again under
//                   load, send a fresh initiation carrying mac2: it must be answered
// It prints one line "RESULT key=value ..." and exits 0 on success, 1 on failure, 2 on bad usage.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "libs/crypto/crypto.h"
#include "services/wgd/core/device.h"

namespace {

using namespace tnet;
using namespace tnet::wg;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string mode, bind, peerEndpoint, privateKeyFile, peerPublicKey, tunnelIp, peerTunnelIp;
  int count = 3;
  double duration = 10, interval = 0.2, rekeyAfter = 0, timeout = 15;
};

bool parseAddrPort(const std::string& text, sockaddr_in& out) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(&out, 0, sizeof out);
  out.sin_family = AF_INET;
  out.sin_port = htons(uint16_t(std::stoi(text.substr(colon + 1))));
  return inet_pton(AF_INET, text.substr(0, colon).c_str(), &out.sin_addr) == 1;
}

// Our endpoint encoding: 4 address bytes then the port, big-endian.
Endpoint endpointOf(const sockaddr_in& a) {
  uint8_t b[6];
  std::memcpy(b, &a.sin_addr, 4);
  std::memcpy(b + 4, &a.sin_port, 2);
  return Endpoint::fromBytes(ByteSpan(b, 6));
}

sockaddr_in sockaddrOf(const Endpoint& e) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  std::memcpy(&a.sin_addr, e.bytes.data(), 4);
  std::memcpy(&a.sin_port, e.bytes.data() + 4, 2);
  return a;
}

uint16_t internetChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += uint32_t(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

// IPv4 + ICMP echo (type 8 request, 0 reply) with a 32-byte payload.
Bytes icmpEcho(uint8_t type, const in_addr& src, const in_addr& dst, uint16_t id, uint16_t seq,
               ByteSpan payload) {
  Bytes p(20 + 8 + payload.size(), 0);
  p[0] = 0x45;
  putU16BE(p.data() + 2, uint16_t(p.size()));
  p[8] = 64;
  p[9] = 1;  // ICMP
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

struct Echo {
  uint8_t type;
  in_addr src, dst;
  uint16_t id, seq;
  Bytes payload;
};

bool parseEcho(const Bytes& p, Echo& e) {
  if (p.size() < 28 || p[0] != 0x45 || p[9] != 1) return false;
  if (internetChecksum(p.data(), 20) != 0) return false;
  const uint8_t* icmp = p.data() + 20;
  if (internetChecksum(icmp, p.size() - 20) != 0) return false;
  e.type = icmp[0];
  std::memcpy(&e.src, p.data() + 12, 4);
  std::memcpy(&e.dst, p.data() + 16, 4);
  e.id = getU16BE(icmp + 4);
  e.seq = getU16BE(icmp + 6);
  e.payload.assign(icmp + 8, p.data() + p.size());
  return true;
}

Now nowBoth() {
  return Now{std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch()),
             std::chrono::duration_cast<Duration>(std::chrono::system_clock::now().time_since_epoch())};
}

int usage(const char* why) {
  std::fprintf(stderr, "wg_interop_peer: %s\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--mode")
      o.mode = v;
    else if (k == "--bind")
      o.bind = v;
    else if (k == "--peer-endpoint")
      o.peerEndpoint = v;
    else if (k == "--private-key-file")
      o.privateKeyFile = v;
    else if (k == "--peer-public-key")
      o.peerPublicKey = v;
    else if (k == "--tunnel-ip")
      o.tunnelIp = v;
    else if (k == "--peer-tunnel-ip")
      o.peerTunnelIp = v;
    else if (k == "--count")
      o.count = std::stoi(v);
    else if (k == "--duration")
      o.duration = std::stod(v);
    else if (k == "--interval")
      o.interval = std::stod(v);
    else if (k == "--rekey-after")
      o.rekeyAfter = std::stod(v);
    else if (k == "--timeout")
      o.timeout = std::stod(v);
    else
      return usage(("unknown flag " + k).c_str());
  }
  if (o.mode != "ping" && o.mode != "answer" && o.mode != "rekey" && o.mode != "cookie") {
    return usage("--mode ping|answer|rekey|cookie");
  }
  sockaddr_in bindAddr{}, peerAddr{};
  in_addr tunnelIp{}, peerTunnelIp{};
  if (!parseAddrPort(o.bind, bindAddr) || !parseAddrPort(o.peerEndpoint, peerAddr))
    return usage("bad address");
  if (inet_pton(AF_INET, o.tunnelIp.c_str(), &tunnelIp) != 1 ||
      inet_pton(AF_INET, o.peerTunnelIp.c_str(), &peerTunnelIp) != 1) {
    return usage("bad tunnel address");
  }
  crypto::init();
  DeviceConfig config;
  {
    std::ifstream in(o.privateKeyFile);
    std::string hex;
    in >> hex;
    auto key = hexDecode(hex);
    if (!key || key->size() != 32) return usage("bad private key file");
    std::copy(key->begin(), key->end(), config.privateKey.begin());
    crypto::wipe(*key);
  }
  auto peerKey = hexDecode(o.peerPublicKey);
  if (!peerKey || peerKey->size() != 32) return usage("bad peer public key");
  if (o.rekeyAfter > 0) {
    config.timings.rekeyAfterTime =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o.rekeyAfter));
  }
  Device device(config);
  PeerConfig pc;
  std::copy(peerKey->begin(), peerKey->end(), pc.publicKey.begin());
  pc.allowedIps.push_back(*IpPrefix::parse(o.peerTunnelIp + "/32"));
  pc.endpoint = endpointOf(peerAddr);
  const PeerId peer = *device.addPeer(pc);

  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&bindAddr), sizeof bindAddr) != 0) {
    std::perror("wg_interop_peer: socket/bind");
    return 1;
  }

  int initiations = 0, responses = 0, sent = 0, answered = 0;
  std::set<uint16_t> replies;
  const uint16_t echoId = uint16_t(getpid());
  const Bytes payload(32, 0x5a);
  auto transmit = [&](const std::vector<Datagram>& datagrams) {
    for (const Datagram& d : datagrams) {
      if (!d.bytes.empty() && d.bytes[0] == 1) ++initiations;
      if (!d.bytes.empty() && d.bytes[0] == 2) ++responses;
      const sockaddr_in to = d.to.empty() ? peerAddr : sockaddrOf(d.to);
      sendto(fd, d.bytes.data(), d.bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
    }
  };

  // Receives for `d`, feeding the device; counts cookie replies seen and those it accepted.
  int cookieReplies = 0, cookieAccepted = 0;
  auto receiveFor = [&](std::chrono::milliseconds d) {
    const auto until = Clock::now() + d;
    while (Clock::now() < until) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 10) <= 0) continue;
      uint8_t buf[65536];
      sockaddr_in from{};
      socklen_t fromLen = sizeof from;
      const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
      if (n <= 0) continue;
      auto r = device.handleDatagram(ByteSpan(buf, size_t(n)), endpointOf(from), nowBoth());
      if (buf[0] == 3) {
        ++cookieReplies;
        if (r.drop == DropReason::NONE) ++cookieAccepted;
      }
      transmit(r.send);
    }
  };
  if (o.mode == "cookie") {
    constexpr int BURST = 2000;
    auto first = device.initiateHandshake(peer, nowBoth());
    if (first.size() != 1) return usage("no initiation");
    const Bytes i0 = first[0].bytes;
    for (int i = 0; i < BURST; ++i) transmit(first);  // copies: replays that cost the peer two DHs each
    receiveFor(std::chrono::milliseconds(1500));
    const int replies1 = cookieReplies, accepted1 = cookieAccepted;
    std::this_thread::sleep_for(std::chrono::milliseconds(3700));  // REKEY_TIMEOUT since the first
    receiveFor(std::chrono::milliseconds(100));
    cookieReplies = cookieAccepted = 0;
    for (int i = 0; i < BURST; ++i) {
      sendto(fd, i0.data(), i0.size(), 0, reinterpret_cast<const sockaddr*>(&peerAddr), sizeof peerAddr);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto second = device.initiateHandshake(peer, nowBoth());
    if (second.size() != 1) return usage("no second initiation");
    const Bytes& i1 = second[0].bytes;
    const bool hasMac2 = !std::all_of(i1.end() - 16, i1.end(), [](uint8_t b) { return b == 0; });
    transmit(second);
    receiveFor(std::chrono::milliseconds(2000));
    const auto status = device.peerStatus(peer);
    const uint64_t sessions = status ? status->sessionsDerived : 0;
    std::printf(
        "RESULT mode=cookie cookiereplies=%d cookieaccepted=%d cookiereplieslater=%d mactwo=%d "
        "sessions=%llu\n",
        replies1, accepted1, cookieReplies, hasMac2 ? 1 : 0, static_cast<unsigned long long>(sessions));
    std::fflush(stdout);
    close(fd);
    return accepted1 >= 1 && cookieReplies >= 1 && hasMac2 && sessions >= 2 ? 0 : 1;
  }

  const auto start = Clock::now();
  const auto runFor = std::chrono::duration<double>(o.mode == "rekey" ? o.duration : o.timeout);
  auto nextPing = start;
  bool done = false;
  std::optional<Clock::time_point> lingerUntil;
  while (!done) {
    const auto t = Clock::now();
    if (lingerUntil ? t >= *lingerUntil : t - start >= runFor) break;
    const bool pinging = o.mode == "ping" ? sent < o.count : (o.mode == "rekey" && t - start < runFor);
    if (pinging && t >= nextPing) {
      ++sent;
      auto r =
          device.sendPacket(icmpEcho(8, tunnelIp, peerTunnelIp, echoId, uint16_t(sent), payload), nowBoth());
      transmit(r.send);
      nextPing = t + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.interval));
    }
    if (auto deadline = device.nextDeadline(); deadline && *deadline <= nowBoth().mono)
      transmit(device.tick(nowBoth()).send);

    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 20) <= 0) continue;
    uint8_t buf[65536];
    sockaddr_in from{};
    socklen_t fromLen = sizeof from;
    const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
    if (n <= 0) continue;
    auto r = device.handleDatagram(ByteSpan(buf, size_t(n)), endpointOf(from), nowBoth());
    transmit(r.send);
    if (r.drop != DropReason::NONE) {
      std::fprintf(stderr, "wg_interop_peer: drop %s\n", std::string(dropReasonName(r.drop)).c_str());
    }
    Echo e;
    if (!r.packet || !parseEcho(*r.packet, e)) continue;
    if (e.type == 0 && e.id == echoId && e.src.s_addr == peerTunnelIp.s_addr && e.payload == payload) {
      replies.insert(e.seq);
      if (o.mode == "ping" && int(replies.size()) == o.count) done = true;
    } else if (e.type == 8 && e.dst.s_addr == tunnelIp.s_addr && o.mode == "answer") {
      auto reply = device.sendPacket(icmpEcho(0, tunnelIp, e.src, e.id, e.seq, e.payload), nowBoth());
      transmit(reply.send);
      if (++answered >= o.count && !lingerUntil) lingerUntil = Clock::now() + std::chrono::milliseconds(300);
    }
    if (o.mode == "rekey" && Clock::now() - start >= runFor) {
      lingerUntil = Clock::now() + std::chrono::seconds(1);  // let the last replies arrive
    }
  }
  if (o.mode == "rekey") {  // collect replies to the last pings
    const auto until = Clock::now() + std::chrono::seconds(1);
    while (Clock::now() < until && int(replies.size()) < sent) {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 20) <= 0) continue;
      uint8_t buf[65536];
      sockaddr_in from{};
      socklen_t fromLen = sizeof from;
      const ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
      if (n <= 0) continue;
      auto r = device.handleDatagram(ByteSpan(buf, size_t(n)), endpointOf(from), nowBoth());
      transmit(r.send);
      Echo e;
      if (r.packet && parseEcho(*r.packet, e) && e.type == 0 && e.id == echoId) replies.insert(e.seq);
    }
  }
  close(fd);
  const auto status = device.peerStatus(peer);
  const uint64_t sessions = status ? status->sessionsDerived : 0;
  std::printf("RESULT mode=%s sent=%d replies=%zu answered=%d initiations=%d responses=%d sessions=%llu\n",
              o.mode.c_str(), sent, replies.size(), answered, initiations, responses,
              static_cast<unsigned long long>(sessions));
  std::fflush(stdout);
  bool ok = false;
  if (o.mode == "ping") ok = int(replies.size()) == o.count;
  if (o.mode == "answer") ok = answered >= o.count;
  if (o.mode == "rekey") ok = sent > 0 && int(replies.size()) == sent && sessions >= 2;
  return ok ? 0 : 1;
}
