// Incremental HTTP/1.1 response parser for the LocalAPI client: status line, headers, and a body
// framed by Content-Length, chunked transfer coding, or connection close. No I/O, so it can be
// fed a stream (watch-ipn-bus) piece by piece and fuzzed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libs/base/result.h"

namespace tnet::cli {

class HttpResponseParser {
 public:
  // Limits: a LocalAPI answer is small; anything bigger is a broken or hostile peer.
  static constexpr size_t MAX_HEADER_BYTES = 64 * 1024;
  static constexpr size_t MAX_HEADERS = 100;

  // Feeds received bytes; decoded body bytes are appended to bodyOut. After an error the parser
  // stays failed.
  Result<void> feed(std::string_view data, std::string& bodyOut);
  // The peer closed the connection. Fine for a close-delimited body; otherwise the response
  // was truncated.
  Result<void> finish();

  bool headersComplete() const { return phase_ != Phase::STATUS_LINE && phase_ != Phase::HEADERS; }
  bool done() const { return phase_ == Phase::DONE; }
  int status() const { return status_; }
  const std::string& reason() const { return reason_; }
  // Case-insensitive lookup of the first header with this name.
  std::optional<std::string> header(std::string_view name) const;

 private:
  enum class Phase {
    STATUS_LINE,
    HEADERS,
    BODY_LENGTH,
    BODY_CLOSE,
    CHUNK_SIZE,
    CHUNK_DATA,
    CHUNK_DATA_END,
    TRAILERS,
    DONE,
    FAILED
  };

  Result<void> fail(std::string message);
  Result<void> onLine(std::string_view line);
  Result<void> startBody();

  Phase phase_ = Phase::STATUS_LINE;
  std::string line_;  // partial line while in a line-oriented phase
  size_t headerBytes_ = 0;
  int status_ = 0;
  std::string reason_;
  std::vector<std::pair<std::string, std::string>> headers_;
  uint64_t remaining_ = 0;  // body or chunk bytes still expected
  std::string error_;
};

}  // namespace tnet::cli
