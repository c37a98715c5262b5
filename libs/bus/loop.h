// The event loop every service runs on: one thread, callbacks only. Boost.Asio's io_context
// lives behind the pimpl so this header stays Asio-free; code that needs Asio itself (apid's
// Beast server) gets the io_context from loop_asio.h.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace tnet::bus {

class Loop;

// A pending timer or fd watch; destroying (or reset()) it cancels the callback. Move-only.
class Handle {
 public:
  Handle() = default;
  Handle(Handle&&) noexcept = default;
  Handle& operator=(Handle&&) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  void reset();
  explicit operator bool() const { return cancel_ != nullptr; }

  // For the Loop implementation: `cancel` runs once, on reset or destruction.
  explicit Handle(std::function<void()> cancel)
      : cancel_(std::make_unique<std::function<void()>>(std::move(cancel))) {}

 private:
  std::unique_ptr<std::function<void()>> cancel_;
};

class Loop {
 public:
  using Clock = std::chrono::steady_clock;

  Loop();
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Runs `fn` on the loop thread soon (never inside post()). Safe from other threads.
  void post(std::function<void()> fn);

  // One-shot and periodic timers. A periodic timer's first run is one period from now.
  [[nodiscard]] Handle after(Clock::duration delay, std::function<void()> fn);
  [[nodiscard]] Handle every(Clock::duration period, std::function<void()> fn);

  // Calls `onReadable` on the loop thread each time epoll reports `fd` readable. The watch is
  // edge-triggered: the callback must drain until EAGAIN (or re-check ZMQ_EVENTS for a ZeroMQ
  // ZMQ_FD) before returning, or post() itself to continue later. The fd stays owned by the
  // caller and must outlive the handle.
  [[nodiscard]] Handle watchFd(int fd, std::function<void()> onReadable);

  // Runs until stop(). Exceptions escaping a callback are a bug
  // in that callback: they are logged and the process aborts.
  void run();
  // Runs ready callbacks for at most `maxWait` (tests drive the loop with this).
  void runFor(Clock::duration maxWait);
  void stop();
  bool stopped() const;

  Clock::time_point now() const { return Clock::now(); }

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tnet::bus
