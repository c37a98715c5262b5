#include "services/netstackd/app/os_dial.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

#include "services/netstackd/core/route.h"

namespace tnet::netstack {

// ---- HostResolver ---------------------------------------------------------------------------
// Workers are detached: a lookup can take the resolver's whole timeout, and shutdown must not
// wait for it. They share this state with the owner, which unhooks the loop on destruction.
struct HostResolver::Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::string, Done>> jobs;
  bus::Loop* loop = nullptr;
  bool stop = false;
  size_t threads = 0, idle = 0, maxThreads = 4;
};

namespace {

HostResolver::Answer lookup(const std::string& host) {
  HostResolver::Answer out;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address
  // No AI_ADDRCONFIG: it ignores loopback, so "localhost" would fail on a host whose only other
  // addresses are of one family; Go's resolver returns every address too.
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    out.gaiError = rc;
    return out;
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    Addr a;
    if (ai->ai_family == AF_INET) {
      std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, 4);
    } else if (ai->ai_family == AF_INET6) {
      a.v6 = true;
      std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    a = route::unmap(a);
    if (std::find(out.addrs.begin(), out.addrs.end(), a) == out.addrs.end()) out.addrs.push_back(a);
  }
  freeaddrinfo(res);
  if (out.addrs.empty()) out.gaiError = EAI_NONAME;
  return out;
}

void worker(std::shared_ptr<HostResolver::Shared> s) {
  std::unique_lock lock(s->mu);
  while (true) {
    ++s->idle;
    bool woke = s->cv.wait_for(lock, std::chrono::seconds(30), [&] { return s->stop || !s->jobs.empty(); });
    --s->idle;
    if (s->stop || !woke) break;  // idle for 30 s: the thread goes away until needed again
    auto job = std::move(s->jobs.front());
    s->jobs.pop_front();
    lock.unlock();
    auto answer = lookup(job.first);
    lock.lock();
    if (s->loop && !s->stop)
      s->loop->post([done = std::move(job.second), answer = std::move(answer)]() mutable { done(std::move(answer)); });
  }
  --s->threads;
}

}  // namespace

HostResolver::HostResolver(bus::Loop& loop, size_t maxThreads) : shared_(std::make_shared<Shared>()) {
  shared_->loop = &loop;
  shared_->maxThreads = std::max<size_t>(1, maxThreads);
}

HostResolver::~HostResolver() {
  std::deque<std::pair<std::string, Done>> dropped;
  {
    std::lock_guard lock(shared_->mu);
    shared_->stop = true;
    shared_->loop = nullptr;
    dropped.swap(shared_->jobs);
  }
  shared_->cv.notify_all();
}

void HostResolver::resolve(std::string host, Done done) {
  std::lock_guard lock(shared_->mu);
  shared_->jobs.emplace_back(std::move(host), std::move(done));
  if (shared_->idle < shared_->jobs.size() && shared_->threads < shared_->maxThreads) {
    ++shared_->threads;
    try {
      std::thread(worker, shared_).detach();
    } catch (const std::system_error&) {
      --shared_->threads;
      if (shared_->threads == 0) {
        // No thread at all (RLIMIT_NPROC, memory): fail the lookups rather than leave them queued.
        for (auto& job : shared_->jobs) {
          Answer failed;
          failed.gaiError = EAI_AGAIN;
          shared_->loop->post([done = std::move(job.second), failed]() mutable { done(std::move(failed)); });
        }
        shared_->jobs.clear();
      }
    }
  }
  shared_->cv.notify_one();
}

// ---- OsConnector ----------------------------------------------------------------------------
OsConnector::OsConnector(bus::Loop& loop, Poller& poller, std::vector<Addr> addrs, uint16_t port, Done done)
    : loop_(loop), poller_(poller), addrs_(std::move(addrs)), port_(port), done_(std::move(done)) {
  attempts_.reserve(addrs_.size());
  // Report from the loop, not from inside the constructor, even when every connect fails at once.
  fallback_ = loop_.after(std::chrono::milliseconds(0), [this] { startNext(); });
}

OsConnector::~OsConnector() {
  closeAll(-1);
}

void OsConnector::closeAll(int keepFd) {
  fallback_.reset();
  for (auto& a : attempts_) {
    if (a.token) poller_.remove(a.token);
    a.token = 0;
    if (a.fd >= 0 && a.fd != keepFd) close(a.fd);
    a.fd = -1;
  }
}

void OsConnector::startNext() {
  if (addrs_.empty()) {
    Outcome o;
    o.err = EHOSTUNREACH;
    return complete(o);
  }
  while (next_ < addrs_.size()) {
    size_t i = next_++;
    Attempt at;
    at.addr = addrs_[i];
    sockaddr_storage ss{};
    socklen_t len;
    if (at.addr.v6) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons(port_);
      std::memcpy(&s6->sin6_addr, at.addr.bytes.data(), 16);
      len = sizeof *s6;
    } else {
      auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
      s4->sin_family = AF_INET;
      s4->sin_port = htons(port_);
      std::memcpy(&s4->sin_addr, at.addr.bytes.data(), 4);
      len = sizeof *s4;
    }
    at.fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = at.fd < 0 ? errno : 0;
    if (at.fd >= 0) {
      int one = 1;
      setsockopt(at.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(at.fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);  // Go's dialers keep alive
      if (connect(at.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) err = errno;
    }
    attempts_.push_back(at);
    if (err) return failed(attempts_.size() - 1, err);  // schedules the next address or reports
    ++live_;
    size_t idx = attempts_.size() - 1;
    attempts_[idx].token = poller_.add(at.fd, EPOLLOUT | EPOLLERR | EPOLLHUP, [this, idx](uint32_t) { onEvent(idx); });
    if (next_ < addrs_.size()) fallback_ = loop_.after(FALLBACK_DELAY, [this] { startNext(); });
    return;
  }
}

void OsConnector::onEvent(size_t i) {
  if (finished_) return;
  Attempt& a = attempts_[i];
  if (a.fd < 0) return;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(a.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) {
    // EPOLLOUT with no error: connected (a spurious wakeup before that has no EPOLLOUT).
    sockaddr_storage peer{};
    socklen_t pl = sizeof peer;
    if (getpeername(a.fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) {
      if (errno == ENOTCONN) return;  // still connecting
      err = errno;
    } else {
      Outcome o;
      o.fd = a.fd;
      o.addr = a.addr;
      return complete(o);
    }
  }
  --live_;
  failed(i, err);
}

void OsConnector::failed(size_t i, int err) {
  Attempt& a = attempts_[i];
  if (a.token) poller_.remove(a.token);
  a.token = 0;
  if (a.fd >= 0) close(a.fd);
  a.fd = -1;
  if (!firstErr_) {
    firstErr_ = err;
    firstErrAddr_ = a.addr;
  }
  if (next_ < addrs_.size()) {
    // The next address starts at once instead of waiting out the fallback delay.
    fallback_ = loop_.after(std::chrono::milliseconds(0), [this] { startNext(); });
    return;
  }
  if (live_ == 0) {
    Outcome o;
    o.err = firstErr_;
    o.addr = firstErrAddr_;
    complete(o);
  }
}

void OsConnector::complete(Outcome o) {
  finished_ = true;
  closeAll(o.fd);
  auto cb = std::move(done_);
  cb(o);  // may destroy this: nothing touches members after it
}

}  // namespace tnet::netstack
