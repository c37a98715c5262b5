// Seal + open of 1420-byte packets through the WireGuard core (Device::sendPacket on one side,
// Device::handleDatagram on the other: peer lookup, staging, padding, header, replay window,
// AllowedIPs source check, timers) versus raw libsodium ChaCha20-Poly1305 on the same sizes.
// Prints the throughput ratio core/raw at the end (target >= 0.8).
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <cstdio>
#include <map>
#include <string>

#include "services/wgd/core/device.h"

namespace {

using namespace tnet;
using namespace tnet::wg;

constexpr size_t PACKET = 1420;

Bytes ipv4Packet(size_t size) {
  Bytes p(size, 0x5a);
  p[0] = 0x45;
  p[1] = 0;
  putU16BE(p.data() + 2, uint16_t(size));
  p[8] = 64;
  p[9] = 17;
  const uint8_t src[4] = {100, 64, 0, 1}, dst[4] = {100, 64, 0, 2};
  std::copy(src, src + 4, p.begin() + 12);
  std::copy(dst, dst + 4, p.begin() + 16);
  return p;
}

void BM_RawLibsodiumSealOpen(benchmark::State& state) {
  crypto::init();
  Bytes plain = ipv4Packet(PACKET), sealed(PACKET + 16), opened(PACKET);
  uint8_t key[32];
  randombytes_buf(key, sizeof key);
  uint64_t counter = 0;
  for (auto _ : state) {
    uint8_t nonce[12] = {};
    putU64LE(nonce + 4, counter++);
    unsigned long long n = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(sealed.data(), &n, plain.data(), plain.size(), nullptr, 0,
                                              nullptr, nonce, key);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(opened.data(), &n, nullptr, sealed.data(), sealed.size(),
                                                  nullptr, 0, nonce, key) != 0) {
      state.SkipWithError("open failed");
    }
    benchmark::DoNotOptimize(opened.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(PACKET));
}
BENCHMARK(BM_RawLibsodiumSealOpen);

void BM_CoreSealOpen(benchmark::State& state) {
  crypto::init();
  DeviceConfig ca, cb;
  crypto::generatePrivateKey(ca.privateKey);
  crypto::generatePrivateKey(cb.privateKey);
  ca.tunMtu = cb.tunMtu = PACKET;  // 1420 bytes need no padding: both sides seal the same bytes
  Device a(ca), b(cb);
  const Endpoint epA = Endpoint::fromBytes(Bytes{1, 0, 0, 1, 0, 1}),
                 epB = Endpoint::fromBytes(Bytes{1, 0, 0, 2, 0, 1});
  const PeerId toB = *a.addPeer({b.publicKey(), {*IpPrefix::parse("100.64.0.2/32")}, epB});
  b.addPeer({a.publicKey(), {*IpPrefix::parse("100.64.0.1/32")}, epA}).value();
  Now now{std::chrono::seconds(1), std::chrono::seconds(1700000000)};
  auto init = a.initiateHandshake(toB, now);
  auto resp = b.handleDatagram(init.at(0).bytes, epA, now);
  auto ka = a.handleDatagram(resp.send.at(0).bytes, epB, now);
  b.handleDatagram(ka.send.at(0).bytes, epA, now);

  const Bytes packet = ipv4Packet(PACKET);
  for (auto _ : state) {
    auto s = a.sendPacket(packet, now);
    auto r = b.handleDatagram(s.send[0].bytes, epA, now);
    if (!r.packet || r.packet->size() != PACKET) state.SkipWithError("core did not deliver the packet");
    benchmark::DoNotOptimize(r.packet->data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(PACKET));
}
BENCHMARK(BM_CoreSealOpen);

// Console output as usual, plus the ratio of the two CPU times per seal+open (higher is better
// for the core: raw time / core time = core throughput / raw throughput).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    // One value per benchmark: the mean when repetitions are aggregated, else the single run.
    for (const Run& r : runs) {
      const std::string name = r.run_name.function_name;
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "mean") {
        cpu_[name] = r.GetAdjustedCPUTime();
        haveMean_[name] = true;
      } else if (r.run_type == Run::RT_Iteration && !haveMean_[name]) {
        cpu_[name] = r.GetAdjustedCPUTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto raw = cpu_.find("BM_RawLibsodiumSealOpen"), core = cpu_.find("BM_CoreSealOpen");
    if (raw != cpu_.end() && core != cpu_.end() && core->second > 0) {
      std::printf("core/raw throughput ratio: %.3f (target >= 0.8)\n", raw->second / core->second);
    }
  }

 private:
  std::map<std::string, double> cpu_;
  std::map<std::string, bool> haveMean_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
