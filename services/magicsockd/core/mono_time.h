// Monotonic time for the I/O-free core. The core never reads a clock: the app passes `now` in
// and gets the next deadline back, so tests drive it with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace tnet::magicsock {

using Duration = std::chrono::nanoseconds;

// A tag clock: only its time_point type is used; there is deliberately no now().
struct MonoClock {
  using duration = Duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<MonoClock, Duration>;
  static constexpr bool is_steady = true;
};
using MonoTime = MonoClock::time_point;

// "No deadline": the app sleeps until the next external event.
constexpr MonoTime NEVER = MonoTime::max();

inline MonoTime earliest(MonoTime a, MonoTime b) {
  return a < b ? a : b;
}

}  // namespace tnet::magicsock
