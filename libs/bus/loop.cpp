// tnet::bus::Loop on Boost.Asio: the only translation unit of libs/bus that includes Asio.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <exception>
#include <utility>  // before Asio (BUILD-NOTES 9)

#include "libs/bus/loop_asio.h"

namespace tnet::bus {

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    cancel_ = std::move(other.cancel_);
  }
  return *this;
}

Handle::~Handle() {
  reset();
}

void Handle::reset() {
  if (cancel_) {
    auto cancel = std::move(cancel_);
    (*cancel)();
  }
}

struct Loop::Impl {
  boost::asio::io_context io{1};
  bool stopped = false;
};

boost::asio::io_context& ioContext(Loop& loop) {
  return loop.impl().io;
}

namespace {

// Exceptions escaping a callback are bugs in the callback; unwinding through Asio would leave
// state half-updated, so report and abort (the supervisor restarts us).
template <typename Fn>
void invokeGuarded(Fn& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fatal: exception escaped a loop callback: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fatal: unknown exception escaped a loop callback\n");
    std::abort();
  }
}

struct TimerState {
  explicit TimerState(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
  std::function<void()> fn;
  Loop::Clock::duration period{};
  bool cancelled = false;
};

void armTimer(const std::shared_ptr<TimerState>& st, Loop::Clock::duration delay) {
  st->timer.expires_after(delay);
  st->timer.async_wait([st](const boost::system::error_code& ec) {
    if (ec || st->cancelled) return;
    if (st->period.count() > 0) armTimer(st, st->period);
    auto fn = st->fn;  // the callback may cancel (and clear) the timer
    invokeGuarded(fn);
  });
}

struct FdState {
  FdState(boost::asio::io_context& io, int fd) : desc(io, fd) {}
  ~FdState() {
    if (desc.is_open()) desc.release();  // never close the caller's fd
  }
  boost::asio::posix::stream_descriptor desc;
  std::function<void()> fn;
  bool cancelled = false;
};

void armFd(const std::shared_ptr<FdState>& st) {
  st->desc.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [st](const boost::system::error_code& ec) {
                        if (ec || st->cancelled) return;
                        // Re-arm first: the callback drains to EAGAIN / ZMQ_EVENTS, so a
                        // readiness edge after this point is seen by the next wait.
                        armFd(st);
                        auto fn = st->fn;
                        invokeGuarded(fn);
                      });
}

}  // namespace

Loop::Loop() : impl_(std::make_unique<Impl>()) {}
Loop::~Loop() = default;

void Loop::post(std::function<void()> fn) {
  boost::asio::post(impl_->io, [fn = std::move(fn)]() mutable { invokeGuarded(fn); });
}

Handle Loop::after(Clock::duration delay, std::function<void()> fn) {
  auto st = std::make_shared<TimerState>(impl_->io);
  st->fn = std::move(fn);
  armTimer(st, delay);
  return Handle([st] {
    st->cancelled = true;
    st->fn = nullptr;
    st->timer.cancel();
  });
}

Handle Loop::every(Clock::duration period, std::function<void()> fn) {
  auto st = std::make_shared<TimerState>(impl_->io);
  st->fn = std::move(fn);
  st->period = period;
  armTimer(st, period);
  return Handle([st] {
    st->cancelled = true;
    st->fn = nullptr;
    st->timer.cancel();
  });
}

Handle Loop::watchFd(int fd, std::function<void()> onReadable) {
  auto st = std::make_shared<FdState>(impl_->io, fd);
  st->fn = std::move(onReadable);
  armFd(st);
  return Handle([st] {
    st->cancelled = true;
    st->fn = nullptr;
    boost::system::error_code ec;
    st->desc.cancel(ec);
    st->desc.release();  // the fd belongs to the caller
  });
}

void Loop::run() {
  impl_->stopped = false;
  auto guard = boost::asio::make_work_guard(impl_->io);
  impl_->io.restart();
  impl_->io.run();
}

void Loop::runFor(Clock::duration maxWait) {
  impl_->io.restart();
  impl_->io.run_for(maxWait);
}

void Loop::stop() {
  impl_->stopped = true;
  impl_->io.stop();
}

bool Loop::stopped() const {
  return impl_->stopped;
}

}  // namespace tnet::bus
