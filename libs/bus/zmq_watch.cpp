#include "libs/bus/zmq_watch.h"

namespace tnet::bus {

ZmqWatch::ZmqWatch(Loop& loop, zmq::socket_t& socket, std::function<void()> onReadable)
    : loop_(loop), socket_(socket), onReadable_(std::move(onReadable)) {
  int fd = socket_.get(zmq::sockopt::fd);
  fdWatch_ = loop_.watchFd(fd, [this] { drain(); });
  kick();  // messages may already be queued; the fd edge for them may be gone
}

ZmqWatch::~ZmqWatch() {
  *alive_ = false;
  fdWatch_.reset();
}

void ZmqWatch::kick() {
  if (kickPosted_) return;
  kickPosted_ = true;
  loop_.post([this, alive = alive_] {
    if (!*alive) return;
    kickPosted_ = false;
    drain();
  });
}

void ZmqWatch::drain() {
  if (draining_) return;  // a send inside onReadable kicked us; the loop below re-checks
  draining_ = true;
  auto alive = alive_;
  // ZMQ_EVENTS processes pending commands and resets the signaller; only after reading it does
  // a later change produce a new edge on ZMQ_FD.
  while (*alive && (socket_.get(zmq::sockopt::events) & ZMQ_POLLIN)) {
    onReadable_();
  }
  if (*alive) draining_ = false;
}

}  // namespace tnet::bus
