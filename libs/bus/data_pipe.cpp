// DataPipe: the backend-independent part (names, manifest checks, batch framing).
#include "libs/bus/data_pipe.h"

#include <algorithm>

#include "libs/bus/bus.h"
#include "libs/bus/data_pipe_internal.h"
#include "libs/bus/endpoints.h"
#include "libs/bus/manifest.h"

namespace tnet::bus {

PipeBackend defaultPipeBackend() {
  return PipeBackend::SEQPACKET;
}

std::string_view pipeBackendName(PipeBackend backend) {
  return backend == PipeBackend::ZMQ_PUSH_PULL ? "zmq" : "seqpacket";
}

Result<PipeBackend> parsePipeBackend(std::string_view name) {
  if (name == "zmq") return PipeBackend::ZMQ_PUSH_PULL;
  if (name == "seqpacket") return PipeBackend::SEQPACKET;
  return Error::invalid("unknown pipe backend '" + std::string(name) + "' (zmq or seqpacket)");
}

bool parseBatchFrame(std::span<const uint8_t> frame, std::span<std::span<const uint8_t>> out, size_t& count) {
  count = 0;
  if (frame.size() < 2) return false;
  size_t n = frame[0] | (size_t{frame[1]} << 8);
  if (n == 0 || n > out.size()) return false;
  size_t off = 2;
  for (size_t i = 0; i < n; ++i) {
    if (frame.size() - off < 2) return false;
    size_t len = frame[off] | (size_t{frame[off + 1]} << 8);
    off += 2;
    if (frame.size() - off < len) return false;
    out[i] = frame.subspan(off, len);
    off += len;
  }
  if (off != frame.size()) return false;
  count = n;
  return true;
}

namespace {

Result<void> checkOptions(const PipeOptions& o) {
  if (o.maxPacket == 0 || o.maxPacket > MAX_PACKET) return Error::invalid("pipe maxPacket out of range");
  if (o.maxBatch == 0 || o.maxBatch > MAX_BATCH) return Error::invalid("pipe maxBatch out of range");
  if (o.queueBatches <= 0) return Error::invalid("pipe queueBatches must be positive");
  return {};
}

}  // namespace

Result<std::unique_ptr<PipeReceiver>> openPipeReceiverAs(Bus& bus, PipeBackend backend, std::string_view to,
                                                         std::string_view from, PipeBatchHandler onBatch,
                                                         PipeOptions options) {
  TNET_TRY_VOID(checkOptions(options));
  if (!manifest::isService(to) || !manifest::isService(from)) {
    return Error::invalid("pipe ends must be services: " + std::string(from) + " -> " + std::string(to));
  }
  std::string path = pipeEndpointPath(bus.runtimeDir(), to, from);
  TNET_TRY_VOID(checkSocketPath(path));
  if (backend == PipeBackend::ZMQ_PUSH_PULL) {
    return openZmqReceiver(bus, path, from, std::move(onBatch), options);
  }
  return openSeqpacketReceiver(bus, path, from, std::move(onBatch), options);
}

Result<std::unique_ptr<PipeSender>> openPipeSenderAs(Bus& bus, PipeBackend backend, std::string_view from,
                                                     std::string_view to, PipeOptions options) {
  TNET_TRY_VOID(checkOptions(options));
  if (!manifest::isService(to) || !manifest::isService(from)) {
    return Error::invalid("pipe ends must be services: " + std::string(from) + " -> " + std::string(to));
  }
  std::string path = pipeEndpointPath(bus.runtimeDir(), to, from);
  TNET_TRY_VOID(checkSocketPath(path));
  if (backend == PipeBackend::ZMQ_PUSH_PULL) return openZmqSender(bus, path, options);
  return openSeqpacketSender(bus, path, options);
}

Result<std::unique_ptr<PipeReceiver>> openPipeReceiver(Bus& bus, PipeBackend backend, std::string_view from,
                                                       PipeBatchHandler onBatch, PipeOptions options) {
  auto senders = manifest::pipeSendersTo(bus.service());
  if (std::find(senders.begin(), senders.end(), from) == senders.end()) {
    return Error::invalid("bus_manifest.capnp declares no pipe " + std::string(from) + " -> " +
                          bus.service());
  }
  return openPipeReceiverAs(bus, backend, bus.service(), from, std::move(onBatch), options);
}

Result<std::unique_ptr<PipeSender>> openPipeSender(Bus& bus, PipeBackend backend, std::string_view to,
                                                   PipeOptions options) {
  auto receivers = manifest::pipeReceiversFrom(bus.service());
  if (std::find(receivers.begin(), receivers.end(), to) == receivers.end()) {
    return Error::invalid("bus_manifest.capnp declares no pipe " + bus.service() + " -> " + std::string(to));
  }
  return openPipeSenderAs(bus, backend, bus.service(), to, options);
}

}  // namespace tnet::bus
