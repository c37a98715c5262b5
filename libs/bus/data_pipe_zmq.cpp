// DataPipe over ZeroMQ PUSH/PULL: one frame per batch, ZAP-checked (domain "pipe.<from>").
#include <unistd.h>
#include <zmq.h>

#include <cstring>

#include "libs/bus/bus_impl.h"
#include "libs/bus/data_pipe_internal.h"
#include "libs/bus/endpoints.h"

namespace tnet::bus {

namespace {

class ZmqReceiver final : public PipeReceiver {
 public:
  ZmqReceiver(Bus& bus, std::string path, PipeBatchHandler onBatch, const PipeOptions& options)
      : socket_(bus.impl().context, zmq::socket_type::pull),
        path_(std::move(path)),
        onBatch_(std::move(onBatch)),
        spans_(options.maxBatch) {}

  Result<void> start(Loop& loop, std::string_view from, const PipeOptions& options) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvhwm, options.queueBatches);
    socket_.set(zmq::sockopt::zap_domain, "pipe." + std::string(from));
    // A batch can be at most maxBatch full packets plus framing.
    socket_.set(zmq::sockopt::maxmsgsize,
                static_cast<int64_t>(2 + options.maxBatch * (2 + options.maxPacket)));
    TNET_TRY_VOID(prepareSocketPath(path_));
    try {
      socket_.bind("ipc://" + path_);
    } catch (const zmq::error_t& e) {
      return Error::failed("bind " + path_ + ": " + e.what());
    }
    bound_ = true;
    TNET_TRY_VOID(publishSocketPath(path_));
    watch_ = std::make_unique<ZmqWatch>(loop, socket_, [this] { drain(); });
    return {};
  }

  ~ZmqReceiver() override {
    watch_.reset();
    socket_.close();
    if (bound_) unlink(path_.c_str());
  }

  const PipeStats& stats() const override { return stats_; }

 private:
  void drain() {
    for (int i = 0; i < 64; ++i) {  // bounded pass; ZmqWatch calls again while POLLIN
      if (!socket_.recv(msg_, zmq::recv_flags::dontwait)) return;
      size_t count = 0;
      std::span<const uint8_t> frame(static_cast<const uint8_t*>(msg_.data()), msg_.size());
      if (msg_.more() || !parseBatchFrame(frame, spans_, count)) {
        ++stats_.dropsMalformed;
        continue;
      }
      stats_.packets += count;
      ++stats_.batches;
      onBatch_(std::span<const std::span<const uint8_t>>(spans_.data(), count));
    }
  }

  zmq::socket_t socket_;
  std::string path_;
  PipeBatchHandler onBatch_;
  std::vector<std::span<const uint8_t>> spans_;
  zmq::message_t msg_;
  std::unique_ptr<ZmqWatch> watch_;
  bool bound_ = false;
  PipeStats stats_;
};

// libzmq reconnects by itself (RECONNECT_IVL, doubling to RECONNECT_IVL_MAX); with
// ZMQ_IMMEDIATE a send while no receiver is attached fails at once and is counted. A socket
// monitor tells us when the receiver goes away and when a new one has completed the handshake
// (ZAP included), so connected() follows the receiver without any send.
class ZmqSender final : public PipeSender {
 public:
  ZmqSender(Bus& bus, const PipeOptions& options)
      : loop_(bus.loop()),
        socket_(bus.impl().context, zmq::socket_type::push),
        monitor_(bus.impl().context, zmq::socket_type::pair),
        options_(options) {
    buffer_.resize(2 + options.maxBatch * (2 + options.maxPacket));
    clear();
  }

  ~ZmqSender() override {
    monitorWatch_.reset();
    monitor_.close();
    socket_.close();
  }

  Result<void> start(Bus& bus, const std::string& path) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::sndhwm, options_.queueBatches);
    socket_.set(zmq::sockopt::immediate, 1);  // no queueing towards a receiver that is not there
    // A restarted receiver is found within RECONNECT_IVL..2x (libzmq adds jitter), backing off
    // to RECONNECT_IVL_MAX while it stays away.
    socket_.set(zmq::sockopt::reconnect_ivl, static_cast<int>(RECONNECT_IVL.count()));
    socket_.set(zmq::sockopt::reconnect_ivl_max, static_cast<int>(RECONNECT_IVL_MAX.count()));
    std::string monitorAddr = "inproc://tnet-pipe-monitor-" + std::to_string(bus.impl().nextMonitorId++);
    if (zmq_socket_monitor(socket_.handle(), monitorAddr.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0) {
      return Error::failed(std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
    }
    try {
      monitor_.connect(monitorAddr);
      monitorWatch_ = std::make_unique<ZmqWatch>(loop_, monitor_, [this] { onMonitor(); });
      socket_.connect("ipc://" + path);
    } catch (const zmq::error_t& e) {
      return Error::failed("connect " + path + ": " + e.what());
    }
    return {};
  }

  bool push(std::span<const uint8_t> packet) override {
    if (packet.empty()) {  // refused on both backends (SEQPACKET cannot carry it)
      ++stats_.dropsMalformed;
      return false;
    }
    if (packet.size() > options_.maxPacket) {
      ++stats_.dropsTooBig;
      return false;
    }
    if (count_ == options_.maxBatch) flush();
    uint8_t* p = buffer_.data() + used_;
    p[0] = static_cast<uint8_t>(packet.size());
    p[1] = static_cast<uint8_t>(packet.size() >> 8);
    std::memcpy(p + 2, packet.data(), packet.size());
    used_ += 2 + packet.size();
    ++count_;
    return true;
  }

  void flush() override {
    if (count_ == 0) return;
    buffer_[0] = static_cast<uint8_t>(count_);
    buffer_[1] = static_cast<uint8_t>(count_ >> 8);
    bool sent = false;
    try {
      sent = socket_.send(zmq::buffer(buffer_.data(), used_), zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t&) {
    }
    if (sent) {
      stats_.packets += count_;
      ++stats_.batches;
    } else {
      stats_.dropsFull += count_;
    }
    clear();
  }

  bool connected() const override { return connected_; }
  const PipeStats& stats() const override { return stats_; }

 private:
  static constexpr auto RECONNECT_IVL = std::chrono::milliseconds(20);
  static constexpr auto RECONNECT_IVL_MAX = std::chrono::milliseconds(500);

  void onMonitor() {
    for (;;) {
      zmq::message_t event;
      if (!monitor_.recv(event, zmq::recv_flags::dontwait)) return;
      zmq::message_t address;
      if (event.more()) (void)monitor_.recv(address, zmq::recv_flags::dontwait);
      if (event.size() < 6) continue;
      uint16_t kind = 0;
      std::memcpy(&kind, event.data(), sizeof kind);
      if (kind == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        connected_ = true;
        // The session attached its pipe to the socket just before this event; have the socket
        // process that command now so the next send sees the receiver.
        (void)socket_.get(zmq::sockopt::events);
      } else if (kind == ZMQ_EVENT_DISCONNECTED) {
        // One PUSH connects to one endpoint, so this is the connection we had (or one that
        // never completed its handshake, e.g. refused by ZAP).
        connected_ = false;
      }
    }
  }

  void clear() {
    count_ = 0;
    used_ = 2;
  }

  Loop& loop_;
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
  std::unique_ptr<ZmqWatch> monitorWatch_;
  PipeOptions options_;
  std::vector<uint8_t> buffer_;
  size_t used_ = 2;
  size_t count_ = 0;
  bool connected_ = false;
  PipeStats stats_;
};

}  // namespace

Result<std::unique_ptr<PipeReceiver>> openZmqReceiver(Bus& bus, const std::string& path,
                                                      std::string_view from, PipeBatchHandler onBatch,
                                                      const PipeOptions& options) {
  auto r = std::make_unique<ZmqReceiver>(bus, path, std::move(onBatch), options);
  TNET_TRY_VOID(r->start(bus.loop(), from, options));
  return std::unique_ptr<PipeReceiver>(std::move(r));
}

Result<std::unique_ptr<PipeSender>> openZmqSender(Bus& bus, const std::string& path,
                                                  const PipeOptions& options) {
  auto s = std::make_unique<ZmqSender>(bus, options);
  TNET_TRY_VOID(s->start(bus, path));
  return std::unique_ptr<PipeSender>(std::move(s));
}

}  // namespace tnet::bus
