// Internal: a ZeroMQ socket on the Loop. ZMQ_FD is an edge-triggered "something changed"
// signal, not readability: after every wake-up and after every send or receive done elsewhere
// (which can consume the wake-up), ZMQ_EVENTS must be re-checked (STYLE.md §C++).
#pragma once

#include <functional>
#include <memory>
#include <zmq.hpp>

#include "libs/bus/loop.h"

namespace tnet::bus {

class ZmqWatch {
 public:
  // `onReadable` must receive with ZMQ_DONTWAIT until EAGAIN (or at least once); it is called
  // again as long as ZMQ_EVENTS reports ZMQ_POLLIN.
  ZmqWatch(Loop& loop, zmq::socket_t& socket, std::function<void()> onReadable);
  ~ZmqWatch();
  ZmqWatch(const ZmqWatch&) = delete;
  ZmqWatch& operator=(const ZmqWatch&) = delete;

  // Call after a send/recv outside onReadable: schedules a drain if input is pending.
  void kick();

 private:
  void drain();

  Loop& loop_;
  zmq::socket_t& socket_;
  std::function<void()> onReadable_;
  Handle fdWatch_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool kickPosted_ = false;
  bool draining_ = false;
};

}  // namespace tnet::bus
