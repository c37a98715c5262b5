#include "services/netstackd/app/poller.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cassert>

namespace tnet::netstack {

Poller::Poller(bus::Loop& loop, std::function<void()> afterDispatch)
    : afterDispatch_(std::move(afterDispatch)) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  assert(epfd_ >= 0);
  watch_ = loop.watchFd(epfd_, [this] { dispatch(); });
}

Poller::~Poller() {
  watch_.reset();
  if (epfd_ >= 0) close(epfd_);
}

uint64_t Poller::add(int fd, uint32_t events, Callback cb) {
  uint64_t token = next_++;
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.u64 = token;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return 0;
  entries_[token] = Entry{fd, std::make_shared<Callback>(std::move(cb))};
  return token;
}

void Poller::remove(uint64_t token) {
  auto it = entries_.find(token);
  if (it == entries_.end()) return;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
  entries_.erase(it);
}

void Poller::dispatch() {
  epoll_event events[64];
  while (true) {
    int n = epoll_wait(epfd_, events, 64, 0);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      auto it = entries_.find(events[i].data.u64);
      if (it == entries_.end()) continue;  // removed by an earlier callback in this batch
      auto cb = it->second.cb;
      (*cb)(events[i].events);
    }
    if (n < 64) break;
  }
  if (afterDispatch_) afterDispatch_();
}

}  // namespace tnet::netstack
