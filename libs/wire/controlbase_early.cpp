#include "libs/wire/controlbase_early.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

namespace tnet::controlbase {

namespace {

bool equalFoldAscii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

Result<EarlyNoise> parseEarlyNoise(ByteSpan json) {
  // Nothing deeper than a few levels is meaningful here; dropping deep values as they are parsed
  // keeps hostile nesting from building a deep tree (whose destruction would recurse).
  constexpr int MAX_DEPTH = 32;
  bool tooDeep = false;
  auto limitDepth = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > MAX_DEPTH) tooDeep = true;
    return depth <= MAX_DEPTH;
  };
  auto doc = nlohmann::json::parse(json.begin(), json.end(), limitDepth, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error::invalid("early payload: invalid JSON");
  if (tooDeep) return Error::invalid("early payload: JSON nested too deeply");
  EarlyNoise out;
  if (doc.is_null()) return out;
  if (!doc.is_object()) return Error::invalid("early payload: JSON is not an object");
  // Go prefers an exact field-name match and otherwise folds case; the last match wins.
  const nlohmann::json* value = nullptr;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (equalFoldAscii(it.key(), "nodeKeyChallenge")) value = &it.value();
  }
  if (auto exact = doc.find("nodeKeyChallenge"); exact != doc.end()) value = &*exact;
  if (value == nullptr || value->is_null()) return out;
  if (!value->is_string()) return Error::invalid("early payload: nodeKeyChallenge is not a string");
  auto key = key::ChallengePublic::parse(value->get_ref<const std::string&>());
  if (!key) return Error::invalid("early payload: nodeKeyChallenge: " + key.error().message);
  out.nodeKeyChallenge = *key;
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
