// Internal: the two DataPipe backends and the batch framing of the ZeroMQ one.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "libs/bus/data_pipe.h"

namespace tnet::bus {

// ZeroMQ batch frame: u16 count, then per packet u16 length (little endian) and the bytes.
// Parses into `out` (capacity = max packets); false when malformed or over capacity.
bool parseBatchFrame(std::span<const uint8_t> frame, std::span<std::span<const uint8_t>> out, size_t& count);

Result<std::unique_ptr<PipeReceiver>> openZmqReceiver(Bus& bus, const std::string& path,
                                                      std::string_view from, PipeBatchHandler onBatch,
                                                      const PipeOptions& options);
Result<std::unique_ptr<PipeSender>> openZmqSender(Bus& bus, const std::string& path,
                                                  const PipeOptions& options);
Result<std::unique_ptr<PipeReceiver>> openSeqpacketReceiver(Bus& bus, const std::string& path,
                                                            std::string_view from, PipeBatchHandler onBatch,
                                                            const PipeOptions& options);
Result<std::unique_ptr<PipeSender>> openSeqpacketSender(Bus& bus, const std::string& path,
                                                        const PipeOptions& options);

}  // namespace tnet::bus
