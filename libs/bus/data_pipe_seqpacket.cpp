// DataPipe over AF_UNIX SOCK_SEQPACKET: one datagram per packet, sendmmsg/recvmmsg, the
// receiver listens on <to>/p.<from> and admits only <from>'s uid (SO_PEERCRED).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "libs/bus/bus.h"
#include "libs/bus/data_pipe_internal.h"
#include "libs/bus/endpoints.h"
#include "libs/log/log.h"

namespace tnet::bus {

namespace {

constexpr auto RECONNECT_MIN = std::chrono::milliseconds(50);
constexpr auto RECONNECT_MAX = std::chrono::seconds(2);
// A connection that lived this long reached a real receiver: losing it reconnects at once.
constexpr auto HEALTHY_AFTER = std::chrono::milliseconds(200);
// While no receiver listens, flush() tries to connect at most this often (one socket + connect).
constexpr auto FLUSH_CONNECT_INTERVAL = std::chrono::milliseconds(1);
// The send buffer bounds the queue: about queueBatches * maxBatch packets (each datagram also
// costs its skb overhead), never megabytes of latency. The kernel caps it at net.core.wmem_max.
int sendBufferFor(const PipeOptions& o) {
  size_t bytes = static_cast<size_t>(o.queueBatches) * o.maxBatch * (o.maxPacket + 768);
  return static_cast<int>(std::clamp<size_t>(bytes, 64 * 1024, 8 * 1024 * 1024));
}

sockaddr_un unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);  // length checked by the caller
  return addr;
}

// Preallocated mmsghdr/iovec arrays over a slab of maxBatch slots of maxPacket bytes.
struct Slots {
  Slots(size_t batch, size_t packet) : size(packet), slab(batch * packet), iov(batch), msgs(batch) {
    for (size_t i = 0; i < batch; ++i) {
      iov[i].iov_base = slab.data() + i * packet;
      iov[i].iov_len = packet;
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
  }
  size_t size;
  std::vector<uint8_t> slab;
  std::vector<iovec> iov;
  std::vector<mmsghdr> msgs;
};

class SeqpacketReceiver final : public PipeReceiver {
 public:
  SeqpacketReceiver(Loop& loop, std::string path, std::string from, PipeBatchHandler onBatch,
                    const PipeOptions& options)
      : loop_(loop),
        path_(std::move(path)),
        from_(std::move(from)),
        onBatch_(std::move(onBatch)),
        // One spare byte per slot so an oversized packet shows as MSG_TRUNC.
        slots_(options.maxBatch, options.maxPacket + 1),
        spans_(options.maxBatch),
        maxPacket_(options.maxPacket) {}

  ~SeqpacketReceiver() override {
    *alive_ = false;
    // Listener first: a sender reconnecting on our hang-up must find nobody listening rather
    // than be queued on a backlog that is about to go.
    listenWatch_.reset();
    if (listen_ >= 0) close(listen_);
    if (bound_) unlink(path_.c_str());
    conns_.clear();
  }

  Result<void> start() {
    TNET_TRY_VOID(prepareSocketPath(path_));
    listen_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_ < 0) return Error::failed(std::string("socket: ") + std::strerror(errno));
    auto addr = unixAddress(path_);
    if (bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_, 4) != 0) {
      return Error::failed("bind " + path_ + ": " + std::strerror(errno));
    }
    bound_ = true;
    TNET_TRY_VOID(publishSocketPath(path_));
    listenWatch_ = loop_.watchFd(listen_, [this] { acceptAll(); });
    return {};
  }

  const PipeStats& stats() const override { return stats_; }

 private:
  void acceptAll() {
    for (;;) {
      int fd = accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN (or a transient error: the next edge retries)
      ucred cred{};
      socklen_t len = sizeof cred;
      std::string who;
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) who = identityForUid(cred.uid);
      if (who.empty() || (who != from_ && who != "operator") || conns_.size() >= MAX_CONNS) {
        ++stats_.rejectedPeers;
        log::logger().warn("pipe.peer.rejected path={} uid={} pid={} expected={} open={}", path_, cred.uid,
                           cred.pid, from_, conns_.size());
        close(fd);
        continue;
      }
      // A sender holds two connections: the data one and an idle one it watches for our
      // hang-up. A restarted sender's new pair overlaps the old one until the old one's
      // end-of-stream is read, and a liveness probe connects and closes at once.
      auto conn = std::make_unique<Conn>();
      conn->fd = fd;
      Conn* raw = conn.get();
      conn->watch = loop_.watchFd(fd, [this, raw] { drain(raw); });
      conns_.push_back(std::move(conn));
      drain(raw);
    }
  }

  struct Conn {
    int fd = -1;
    Handle watch;
    ~Conn() {
      watch.reset();
      if (fd >= 0) close(fd);
    }
  };
  static constexpr size_t MAX_CONNS = 8;

  void drain(Conn* conn) {
    for (int pass = 0; pass < 16; ++pass) {
      int n = recvmmsg(conn->fd, slots_.msgs.data(), static_cast<unsigned>(slots_.msgs.size()), MSG_DONTWAIT,
                       nullptr);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return closeConn(conn);
      }
      if (n == 0) return closeConn(conn);  // peer closed
      size_t count = 0;
      bool eof = false;
      for (int i = 0; i < n; ++i) {
        auto& m = slots_.msgs[i];
        if (m.msg_len == 0) {  // a zero-length datagram is how SEQPACKET reports EOF
          eof = true;
          break;
        }
        if ((m.msg_hdr.msg_flags & MSG_TRUNC) || m.msg_len > maxPacket_) {
          ++stats_.dropsTooBig;
          continue;
        }
        spans_[count++] =
            std::span<const uint8_t>(static_cast<const uint8_t*>(slots_.iov[i].iov_base), m.msg_len);
      }
      if (count > 0) {
        stats_.packets += count;
        ++stats_.batches;
        onBatch_(std::span<const std::span<const uint8_t>>(spans_.data(), count));
      }
      if (eof) return closeConn(conn);
      if (static_cast<size_t>(n) < slots_.msgs.size()) return;  // drained
    }
    // Still more: let other work run, then continue (edge-triggered, so we must come back).
    loop_.post([this, alive = alive_, conn] {
      if (!*alive) return;
      for (auto& c : conns_) {
        if (c.get() == conn) return drain(conn);
      }
    });
  }

  void closeConn(Conn* conn) {
    for (auto it = conns_.begin(); it != conns_.end(); ++it) {
      if (it->get() == conn) {
        conns_.erase(it);
        return;
      }
    }
  }

  Loop& loop_;
  std::string path_;
  std::string from_;
  PipeBatchHandler onBatch_;
  Slots slots_;
  std::vector<std::span<const uint8_t>> spans_;
  size_t maxPacket_;
  int listen_ = -1;
  bool bound_ = false;
  Handle listenWatch_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  PipeStats stats_;
};

// The sender notices the receiver going away (the receiving service exited or was killed) from
// a second, idle connection it watches on the loop: the receiver never writes, so readability
// means end-of-stream. It then reconnects at once, so a restarted receiver is connected to as
// soon as its endpoint accepts, without waiting for a packet to fail. The data socket itself
// stays out of epoll: a socket in an epoll set is woken each time the receiver frees one of its
// packets (write space), which cost ~0.1 us per packet per hop in bench/datapipe. A send that
// finds the peer gone retries its batch once on a fresh connection.
class SeqpacketSender final : public PipeSender {
 public:
  SeqpacketSender(Loop& loop, std::string path, const PipeOptions& options)
      : loop_(loop), path_(std::move(path)), options_(options), slots_(options.maxBatch, options.maxPacket) {}

  ~SeqpacketSender() override {
    retry_.reset();
    closeConnection();
  }

  void start() {
    if (!connectNow()) scheduleRetry();
  }

  bool push(std::span<const uint8_t> packet) override {
    if (packet.empty()) {  // a zero-length SEQPACKET datagram reads as end-of-stream
      ++stats_.dropsMalformed;
      return false;
    }
    if (packet.size() > options_.maxPacket) {
      ++stats_.dropsTooBig;
      return false;
    }
    if (count_ == slots_.msgs.size()) flush();
    std::memcpy(slots_.iov[count_].iov_base, packet.data(), packet.size());
    slots_.iov[count_].iov_len = packet.size();
    ++count_;
    return true;
  }

  void flush() override {
    if (count_ == 0) return;
    // No receiver yet: if the last attempt found no listener (nobody to bother), try again now,
    // at most once per FLUSH_CONNECT_INTERVAL, so the first batch after a restart is delivered.
    if (fd_ < 0 && mayConnectAtFlush_ && loop_.now() - lastAttempt_ >= FLUSH_CONNECT_INTERVAL) connectNow();
    size_t sent = 0;
    bool retried = false;
    while (fd_ >= 0 && sent < count_) {
      int n = sendmmsg(fd_, slots_.msgs.data() + sent, static_cast<unsigned>(count_ - sent),
                       MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;  // queue full: drop the rest
      bool peerGone = n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN);
      bool again = reconnectAfterLoss();
      if (!peerGone || !again || retried) break;
      retried = true;  // the rest of the batch goes to the new receiver, once
    }
    stats_.packets += sent;
    if (sent > 0) ++stats_.batches;
    stats_.dropsFull += count_ - sent;
    count_ = 0;
  }

  bool connected() const override { return fd_ >= 0; }
  const PipeStats& stats() const override { return stats_; }

 private:
  // Non-blocking connects; AF_UNIX answers at once (accepted into the backlog, or refused).
  bool connectNow() {
    lastAttempt_ = loop_.now();
    int err = 0;
    int data = connectSocket(true, err);
    int hangup = data >= 0 ? connectSocket(false, err) : -1;
    if (hangup < 0) {
      if (data >= 0) close(data);
      // No endpoint or no listener: nobody to disturb, so flush() may try again soon. A full
      // backlog (EAGAIN) means a busy receiver, and no socket means no descriptors: backoff.
      mayConnectAtFlush_ = err == ENOENT || err == ECONNREFUSED;
      return false;
    }
    fd_ = data;
    hangupFd_ = hangup;
    connectedAt_ = lastAttempt_;
    retry_.reset();
    watch_ = loop_.watchFd(hangupFd_, [this] { onHangupReadable(); });
    log::logger().info("pipe.connected path={}", path_);
    return true;
  }

  int connectSocket(bool data, int& err) {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      return -1;
    }
    if (data) {
      int sndbuf = sendBufferFor(options_);
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    }
    auto addr = unixAddress(path_);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      err = errno;
      close(fd);
      return -1;
    }
    return fd;
  }

  void scheduleRetry() {
    retry_ = loop_.after(backoff_, [this] {
      if (fd_ < 0 && !connectNow()) scheduleRetry();
    });
    backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, RECONNECT_MAX);
  }

  void onHangupReadable() {
    uint8_t byte;
    ssize_t n;
    do {
      n = recv(hangupFd_, &byte, 1, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    // End-of-stream or an error (a receiver that writes breaks the protocol: same thing).
    reconnectAfterLoss();
  }

  // Closes the lost connection. One that had been up for HEALTHY_AFTER was a real receiver that
  // went away: reconnect at once and restart the backoff. One that died young (a receiver that
  // refuses our uid, or one crashing at start-up) keeps backing off, so we never spin against it.
  // True when connected again.
  bool reconnectAfterLoss() {
    bool healthy = loop_.now() - connectedAt_ >= HEALTHY_AFTER;
    closeConnection();
    log::logger().info("pipe.disconnected path={} reconnect={}", path_, healthy ? "now" : "backoff");
    if (healthy) {
      backoff_ = RECONNECT_MIN;
      if (connectNow()) return true;
    } else {
      mayConnectAtFlush_ = false;
    }
    scheduleRetry();
    return false;
  }

  void closeConnection() {
    watch_.reset();  // before close: the watch must not outlive the fd
    if (hangupFd_ >= 0) close(hangupFd_);
    if (fd_ >= 0) close(fd_);
    hangupFd_ = -1;
    fd_ = -1;
  }

  Loop& loop_;
  std::string path_;
  PipeOptions options_;
  Slots slots_;
  size_t count_ = 0;
  int fd_ = -1;
  int hangupFd_ = -1;  // idle connection to the same receiver, watched for its end-of-stream
  Handle watch_;
  Loop::Clock::time_point connectedAt_{};
  Loop::Clock::time_point lastAttempt_{};
  bool mayConnectAtFlush_ = false;
  std::chrono::milliseconds backoff_ = RECONNECT_MIN;
  Handle retry_;
  PipeStats stats_;
};

}  // namespace

Result<std::unique_ptr<PipeReceiver>> openSeqpacketReceiver(Bus& bus, const std::string& path,
                                                            std::string_view from, PipeBatchHandler onBatch,
                                                            const PipeOptions& options) {
  auto r =
      std::make_unique<SeqpacketReceiver>(bus.loop(), path, std::string(from), std::move(onBatch), options);
  TNET_TRY_VOID(r->start());
  return std::unique_ptr<PipeReceiver>(std::move(r));
}

Result<std::unique_ptr<PipeSender>> openSeqpacketSender(Bus& bus, const std::string& path,
                                                        const PipeOptions& options) {
  auto s = std::make_unique<SeqpacketSender>(bus.loop(), path, options);
  s->start();
  return std::unique_ptr<PipeSender>(std::move(s));
}

}  // namespace tnet::bus
