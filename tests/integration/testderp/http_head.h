// The few HTTP/1.1 pieces testderp needs: parsing a request head (request line + headers, no
// body) and writing a small response. Untrusted input: bounded, never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"

namespace tnet::testderp {

constexpr size_t MAX_HEAD_BYTES = 8192;

struct RequestHead {
  std::string method;
  std::string path;  // without the query
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed

  std::optional<std::string> header(std::string_view lowerName) const;
};

// `head` ends with the blank line ("\r\n\r\n").
Result<RequestHead> parseRequestHead(std::string_view head);

std::string httpResponse(int status, std::string_view reason,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::string_view body);

bool equalsIgnoreCase(std::string_view a, std::string_view b);
// Go's generate_204 rule: at most 64 characters of [A-Za-z0-9._:-].
bool validChallenge(std::string_view challenge);

inline ByteSpan asBytes(const std::string& s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace tnet::testderp
