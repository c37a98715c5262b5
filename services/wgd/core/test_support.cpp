#include "services/wgd/core/test_support.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tnet::wg::testing {

void ScriptedRandom::fill(MutableByteSpan out) {
  auto& q = queues_[out.size()];
  if (!q.empty() && q.front().size() == out.size()) {
    std::copy(q.front().begin(), q.front().end(), out.begin());
    q.pop_front();
    return;
  }
  uint8_t seed[8];
  putU64LE(seed, counter_++);
  for (size_t off = 0; off < out.size(); off += 32) {
    uint8_t block[32];
    const uint8_t part = uint8_t(off / 32);
    crypto::blake2s(block, {ByteSpan(seed, 8), ByteSpan(&part, 1)});
    std::copy_n(block, std::min<size_t>(32, out.size() - off), out.begin() + off);
  }
}

std::optional<nlohmann::json> wireguardVectors() {
  // CTest passes TNET_VECTORS_DIR; the build's own setting is the fallback when run directly.
  const char* dir = std::getenv("TNET_VECTORS_DIR");
  std::ifstream in(std::string(dir && *dir ? dir : TNET_VECTORS_DIR_DEFAULT) +
                   "/tailscale-dataplane-kat.json");
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str());
  return j.at("wireguard");
}

Bytes vectorBytes(const nlohmann::json& v, const std::string& field) {
  std::string text = v.at(field).get<std::string>();
  text = text.substr(0, text.find(' '));
  auto b = hexDecode(text);
  if (!b) throw std::runtime_error("bad hex in vector field " + field);
  return *b;
}

Key32 keyFromHex(std::string_view hex) {
  auto b = hexDecode(hex);
  if (!b || b->size() != 32) throw std::runtime_error("bad key hex");
  Key32 k;
  std::copy(b->begin(), b->end(), k.begin());
  return k;
}

Key32 vectorKey(const nlohmann::json& v, const std::string& field) {
  Bytes b = vectorBytes(v, field);
  if (b.size() != 32) throw std::runtime_error("vector field is not 32 bytes: " + field);
  Key32 k;
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

Now at(double seconds, double wallSeconds) {
  return Now{std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)),
             std::chrono::duration_cast<Duration>(std::chrono::duration<double>(wallSeconds + seconds))};
}

}  // namespace tnet::wg::testing
