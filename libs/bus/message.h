// Cap'n Proto messages on the bus: untrusted bytes are copied into word-aligned memory first
// (capnp 0.9 needs 8-byte alignment; small zmq messages are stored unaligned, BUILD-NOTES 3) and
// read with traversal and nesting limits.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "libs/base/result.h"

namespace tnet::bus {

// Limits for every message read from another process: 8 MiB of words traversed, nesting 32.
capnp::ReaderOptions untrustedReaderOptions();

// A received message: an aligned copy plus its reader. Not copyable or movable (the reader
// points into the copy); hold it by unique_ptr/shared_ptr.
class InMessage {
 public:
  // Fails with invalid when the bytes are not a well-formed segment table.
  static Result<std::unique_ptr<InMessage>> fromBytes(std::span<const uint8_t> bytes);

  InMessage(const InMessage&) = delete;
  InMessage& operator=(const InMessage&) = delete;

  template <typename T>
  typename T::Reader root() {
    return reader_->getRoot<T>();
  }
  capnp::MessageReader& reader() { return *reader_; }

 private:
  InMessage() = default;
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// The flat serialisation of a builder (one copy).
std::vector<uint8_t> toBytes(capnp::MessageBuilder& builder);

// Runs fn, turning a kj::Exception (a malformed message found while reading it) into
// Error::invalid. Use around code that reads untrusted messages.
Result<void> guardRead(const std::function<void()>& fn);

}  // namespace tnet::bus
