// Packet pipes between data-plane services (netstackd<->wgd, wgd<->magicsockd): one direction
// per pipe, declared in the manifest (ServiceDecl.pipesTo), never the event sockets.
//
// The receiver owns the endpoint <runtime>/<to>/p.<from> and admits only the kernel uid of
// <from> (or the operator). Packets are opaque non-empty byte strings up to MAX_PACKET bytes; the sender
// copies them into a preallocated batch and sends the batch when flush() is called at the end of
// its input drain pass (never on a timer). Sends never block: a batch that does not fit the small
// queue is dropped and counted. Nothing is allocated per packet.
//
// Two backends, measured against each other in bench/datapipe (docs/bus.md):
//   ZMQ_PUSH_PULL  one ZeroMQ frame per batch (ipc://, ZAP-checked like every bus endpoint)
//   SEQPACKET      AF_UNIX SOCK_SEQPACKET, one datagram per packet, sendmmsg/recvmmsg,
//                  SO_PEERCRED checked on accept
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "libs/base/result.h"
#include "libs/bus/loop.h"

namespace tnet::bus {

class Bus;

enum class PipeBackend { ZMQ_PUSH_PULL, SEQPACKET };

PipeBackend defaultPipeBackend();
std::string_view pipeBackendName(PipeBackend backend);
// "zmq" or "seqpacket"
Result<PipeBackend> parsePipeBackend(std::string_view name);

inline constexpr size_t MAX_PACKET = 65535;
inline constexpr size_t MAX_BATCH = 64;  // packets per batch; push() flushes a full batch itself

struct PipeOptions {
  size_t maxPacket = 2048;  // bytes per packet slot (preallocated); larger packets are dropped
  size_t maxBatch = MAX_BATCH;
  int queueBatches = 16;  // batches queued in the kernel/ZeroMQ before sends drop
};

struct PipeStats {
  uint64_t packets = 0;  // sent or received
  uint64_t batches = 0;
  uint64_t dropsFull = 0;       // packets dropped because the queue was full or no peer connected
  uint64_t dropsTooBig = 0;     // packets larger than PipeOptions.maxPacket
  uint64_t dropsMalformed = 0;  // received batches that did not parse; empty packets pushed
  uint64_t rejectedPeers = 0;   // connections from a uid other than the sender's
};

class PipeSender {
 public:
  virtual ~PipeSender() = default;
  // Copies `packet` into the current batch. False (and counted) when it had to be dropped.
  virtual bool push(std::span<const uint8_t> packet) = 0;
  // Sends the current batch, if any, without blocking.
  virtual void flush() = 0;
  virtual bool connected() const = 0;
  virtual const PipeStats& stats() const = 0;
};

// Called once per received batch; the spans are valid only during the call.
using PipeBatchHandler = std::function<void(std::span<const std::span<const uint8_t>> packets)>;

class PipeReceiver {
 public:
  virtual ~PipeReceiver() = default;
  virtual const PipeStats& stats() const = 0;
};

// `bus.service()` is the receiving side (<to>); `from` must be declared to send to it, except
// for the operator (tests, benchmarks).
Result<std::unique_ptr<PipeReceiver>> openPipeReceiver(Bus& bus, PipeBackend backend, std::string_view from,
                                                       PipeBatchHandler onBatch, PipeOptions options = {});
// `bus.service()` is the sending side (<from>). Connects lazily and reconnects with backoff;
// packets pushed while not connected are dropped and counted. A receiver that goes away is
// noticed without a send and a restarted one is reconnected to at once (docs/bus.md, "When the
// receiving service restarts").
Result<std::unique_ptr<PipeSender>> openPipeSender(Bus& bus, PipeBackend backend, std::string_view to,
                                                   PipeOptions options = {});

// For tests and benchmarks that run both ends as the operator: explicit names.
Result<std::unique_ptr<PipeReceiver>> openPipeReceiverAs(Bus& bus, PipeBackend backend, std::string_view to,
                                                         std::string_view from, PipeBatchHandler onBatch,
                                                         PipeOptions options = {});
Result<std::unique_ptr<PipeSender>> openPipeSenderAs(Bus& bus, PipeBackend backend, std::string_view from,
                                                     std::string_view to, PipeOptions options = {});

}  // namespace tnet::bus
