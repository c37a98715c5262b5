// An epoll set of our own sockets, watched as one fd by the service loop (whose watchFd reports
// readability only). Edge-triggered for EPOLLIN and EPOLLOUT: callbacks drain until EAGAIN or
// remember that they stopped early.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "libs/bus/loop.h"

namespace tnet::netstack {

class Poller {
 public:
  using Callback = std::function<void(uint32_t events)>;

  Poller(bus::Loop& loop, std::function<void()> afterDispatch);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Returns a token for remove(). The callback may remove any registration, its own included.
  uint64_t add(int fd, uint32_t events, Callback cb);
  void remove(uint64_t token);

 private:
  void dispatch();

  struct Entry {
    int fd;
    std::shared_ptr<Callback> cb;
  };
  int epfd_ = -1;
  uint64_t next_ = 1;
  std::unordered_map<uint64_t, Entry> entries_;
  std::function<void()> afterDispatch_;
  bus::Handle watch_;
};

}  // namespace tnet::netstack
