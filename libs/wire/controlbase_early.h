// The ts2021 early payload (Go: control/ts2021/conn.go readHeader, tailcfg.EarlyNoise): the
// first plaintext bytes the control server sends inside controlbase, before its HTTP/2 stream.
//
//   ff ff ff 'T' 'S' | u32 BE length (at most 10 MiB) | JSON {"nodeKeyChallenge":"chalpub:…"}
//
// The reader looks at the first 9 plaintext bytes (an HTTP/2 frame header is also 9 bytes and
// never starts ff ff ff): without the magic they are handed on as the start of the HTTP/2
// stream. I/O-free: feed decrypted plaintext, get the HTTP/2 bytes back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/wire/keys.h"

namespace tnet::controlbase {

constexpr std::string_view EARLY_PAYLOAD_MAGIC = "\xff\xff\xffTS";
constexpr size_t EARLY_HEADER_LEN = 9;
constexpr uint32_t MAX_EARLY_PAYLOAD_LEN = 10u << 20;  // Go's limit

// tailcfg.EarlyNoise.
struct EarlyNoise {
  key::ChallengePublic nodeKeyChallenge;  // zero when absent or null
};

// Parses the early payload's JSON as Go's json.Unmarshal into *tailcfg.EarlyNoise would:
// null or an object; field names match case-insensitively and the last non-null one wins;
// unknown fields are ignored; every nodeKeyChallenge must be null or a valid "chalpub:" key.
Result<EarlyNoise> parseEarlyNoise(ByteSpan json);

class EarlyPayloadReader {
 public:
  explicit EarlyPayloadReader(uint32_t maxLength = MAX_EARLY_PAYLOAD_LEN) : maxLength_(maxLength) {}

  // Consumes decrypted plaintext; bytes of the HTTP/2 stream are appended to `stream`. The
  // first error (length over the limit, bad JSON) is permanent.
  Result<void> feed(ByteSpan plaintext, Bytes& stream);
  // The header has been decided and any early payload read.
  bool done() const { return state_ == State::PASSTHROUGH; }
  // The early payload, if the server sent one (valid once done()).
  const std::optional<EarlyNoise>& earlyNoise() const { return early_; }

 private:
  enum class State { HEADER, PAYLOAD, PASSTHROUGH, FAILED };
  uint32_t maxLength_;
  State state_ = State::HEADER;
  Bytes buffer_;
  uint32_t payloadLength_ = 0;
  std::optional<EarlyNoise> early_;
  std::optional<Error> error_;
};

}  // namespace tnet::controlbase
