// Test helpers for the WireGuard core: scripted randomness and the known-answer vectors.
#pragma once

#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "services/wgd/core/device.h"

namespace tnet::wg::testing {

// Hands out scripted values per request size (32: ephemeral keys, 4: indices, 24: nonces, 2:
// jitter), so a test scripts each kind independently of call order; unscripted requests get a
// deterministic stream.
class ScriptedRandom final : public RandomSource {
 public:
  void script(ByteSpan value) { queues_[value.size()].emplace_back(value.begin(), value.end()); }
  void fill(MutableByteSpan out) override;

 private:
  std::map<size_t, std::deque<Bytes>> queues_;
  uint64_t counter_ = 0;
};

// tailscale-dataplane-kat.json's "wireguard" object, or nullopt when the vectors are absent.
std::optional<nlohmann::json> wireguardVectors();
// The hex at the start of a vector field (fields may carry a trailing comment).
Bytes vectorBytes(const nlohmann::json& v, const std::string& field);
Key32 vectorKey(const nlohmann::json& v, const std::string& field);
Key32 keyFromHex(std::string_view hex);

Now at(double seconds, double wallSeconds = 1700000000.0);

}  // namespace tnet::wg::testing
