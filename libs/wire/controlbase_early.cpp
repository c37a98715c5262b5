#include "libs/wire/controlbase_early.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "libs/wire/controlbase_json.h"

namespace tnet::controlbase {

Result<EarlyNoise> parseEarlyNoise(ByteSpan json) {
  auto doc = parseJsonDocument(json);
  if (!doc) return Error::invalid("early payload: " + doc.error().message);
  EarlyNoise out;
  if (doc->is_null()) return out;
  if (!doc->is_object()) return Error::invalid("early payload: JSON is not an object");
  for (const auto* value : fieldsLikeGo(*doc, "nodeKeyChallenge")) {
    if (value->is_null()) continue;
    if (!value->is_string()) return Error::invalid("early payload: nodeKeyChallenge is not a string");
    auto key = key::ChallengePublic::parse(value->get_ref<const std::string&>());
    if (!key) return Error::invalid("early payload: nodeKeyChallenge: " + key.error().message);
    out.nodeKeyChallenge = *key;
  }
  return out;
}

Result<void> EarlyPayloadReader::feed(ByteSpan plaintext, Bytes& stream) {
  if (state_ == State::FAILED) return *error_;
  if (state_ == State::PASSTHROUGH) {
    stream.insert(stream.end(), plaintext.begin(), plaintext.end());
    return {};
  }
  if (state_ == State::HEADER) {
    const size_t take = std::min(EARLY_HEADER_LEN - buffer_.size(), plaintext.size());
    buffer_.insert(buffer_.end(), plaintext.begin(), plaintext.begin() + take);
    plaintext = plaintext.subspan(take);
    if (buffer_.size() < EARLY_HEADER_LEN) return {};
    if (std::memcmp(buffer_.data(), EARLY_PAYLOAD_MAGIC.data(), EARLY_PAYLOAD_MAGIC.size()) != 0) {
      // No early payload: these 9 bytes are the start of the HTTP/2 stream.
      state_ = State::PASSTHROUGH;
      stream.insert(stream.end(), buffer_.begin(), buffer_.end());
      stream.insert(stream.end(), plaintext.begin(), plaintext.end());
      buffer_.clear();
      return {};
    }
    payloadLength_ = getU32BE(buffer_.data() + EARLY_PAYLOAD_MAGIC.size());
    buffer_.clear();
    if (payloadLength_ > maxLength_) {
      state_ = State::FAILED;
      error_ = Error::invalid("invalid early payload length");
      return *error_;
    }
    state_ = State::PAYLOAD;
  }
  // State::PAYLOAD
  const size_t take = std::min(size_t(payloadLength_) - buffer_.size(), plaintext.size());
  buffer_.insert(buffer_.end(), plaintext.begin(), plaintext.begin() + take);
  plaintext = plaintext.subspan(take);
  if (buffer_.size() < payloadLength_) return {};
  auto early = parseEarlyNoise(buffer_);
  buffer_.clear();
  buffer_.shrink_to_fit();
  if (!early) {
    state_ = State::FAILED;
    error_ = early.error();
    return *error_;
  }
  early_ = *early;
  state_ = State::PASSTHROUGH;
  stream.insert(stream.end(), plaintext.begin(), plaintext.end());
  return {};
}

}  // namespace tnet::controlbase
