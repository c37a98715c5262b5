// Jittered exponential backoff for controld's retry loops (dial, map poll, follow-up register,
// lite updates). Go's logtail/backoff doubles up to a 30 s cap and multiplies each delay by a
// random factor in [0.5, 1.5) so a fleet that lost control does not return in lock-step.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace tnet::controld {

class Backoff {
 public:
  using Duration = std::chrono::milliseconds;

  Backoff(Duration initial, Duration max, uint64_t seed = std::random_device{}())
      : initial_(initial), max_(max), rng_(seed) {}

  // The delay before the next attempt; each call doubles the base up to the cap.
  Duration next() {
    Duration base = current_.count() == 0 ? initial_ : current_;
    current_ = std::min(base * 2, max_);
    base = std::min(base, max_);
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    auto ms = static_cast<int64_t>(static_cast<double>(base.count()) * jitter(rng_));
    return Duration(std::max<int64_t>(ms, 1));
  }
  // After a success: the next failure starts from `initial` again.
  void reset() { current_ = Duration(0); }
  // Failures since the last reset (for logs).
  bool idle() const { return current_.count() == 0; }

 private:
  Duration initial_;
  Duration max_;
  Duration current_{0};
  std::mt19937_64 rng_;
};

}  // namespace tnet::controld
