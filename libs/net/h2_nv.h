// Helpers shared by the nghttp2 client and server wrappers (internal to libs/net).
#pragma once

#include <nghttp2/nghttp2.h>

#include <string>
#include <string_view>
#include <vector>

#include "libs/net/http_types.h"

namespace tnet::net::h2 {

// HTTP/2 header names must be lower case; connection-specific fields are forbidden (RFC 9113
// §8.2.2), so they are dropped rather than making the peer reset the stream.
struct NvList {
  std::vector<std::string> storage;
  std::vector<nghttp2_nv> nv;

  void add(std::string_view name, std::string_view value);
  void addUser(const HeaderList& headers);
  void finish();  // points nv at storage (call once, after every add)
};

inline std::string_view asView(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

std::string errorCodeName(uint32_t code);

}  // namespace tnet::net::h2
