// Shared helpers for the core's tests: a fake clock origin and a deterministic TxID source.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "services/magicsockd/core/peer_endpoint.h"

namespace tnet::magicsock::testing {

inline MonoTime at(Duration d) {
  return MonoTime(Duration(1'000'000'000'000)) + d;
}  // arbitrary epoch

// Deterministic, distinct TxIDs (a counter in the first bytes; `salt` separates two peers).
inline PeerEndpoint::RandomFill counterRandom(uint8_t salt) {
  auto counter = std::make_shared<uint64_t>(0);
  return [counter, salt](std::span<uint8_t> out) {
    uint64_t v = ++*counter;
    for (size_t i = 0; i < out.size(); i++) out[i] = i < 8 ? static_cast<uint8_t>(v >> (8 * i)) : salt;
  };
}

template <typename T>
std::vector<T> actionsOf(const std::vector<Action>& actions) {
  std::vector<T> r;
  for (const auto& a : actions) {
    if (const T* t = std::get_if<T>(&a)) r.push_back(*t);
  }
  return r;
}

}  // namespace tnet::magicsock::testing
