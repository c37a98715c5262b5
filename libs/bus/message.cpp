#include "libs/bus/message.h"

#include <kj/exception.h>

#include <cstring>

namespace tnet::bus {

capnp::ReaderOptions untrustedReaderOptions() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = 8 * 1024 * 1024;
  options.nestingLimit = 32;
  return options;
}

Result<std::unique_ptr<InMessage>> InMessage::fromBytes(std::span<const uint8_t> bytes) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
    return Error::invalid("message of " + std::to_string(bytes.size()) +
                          " bytes is not a whole number of words");
  }
  std::unique_ptr<InMessage> msg(new InMessage());
  msg->words_ = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(msg->words_.begin(), bytes.data(), bytes.size());
  kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&] {
    msg->reader_ =
        std::make_unique<capnp::FlatArrayMessageReader>(msg->words_.asPtr(), untrustedReaderOptions());
  });
  KJ_IF_MAYBE (e, failure) {
    return Error::invalid(std::string("malformed message: ") + e->getDescription().cStr());
  }
  return msg;
}

std::vector<uint8_t> toBytes(capnp::MessageBuilder& builder) {
  auto words = capnp::messageToFlatArray(builder);
  auto bytes = words.asBytes();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

Result<void> guardRead(const std::function<void()>& fn) {
  kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&] { fn(); });
  KJ_IF_MAYBE (e, failure) {
    return Error::invalid(std::string("malformed message: ") + e->getDescription().cStr());
  }
  return {};
}

}  // namespace tnet::bus
