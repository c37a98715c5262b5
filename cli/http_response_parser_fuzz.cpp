// libFuzzer target for the HTTP/1.1 response parser tnet runs on the daemon's bytes. The first
// input byte picks where the rest is split, so line, chunk and header boundaries move across
// feed() calls the way short socket reads move them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cli/http_response_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t split = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (split > rest.size()) split = rest.size();
  tnet::cli::HttpResponseParser parser;
  std::string body;
  if (parser.feed(rest.substr(0, split), body)) {
    if (parser.feed(rest.substr(split), body)) (void)parser.finish();
  }
  (void)parser.header("Content-Type");
  return 0;
}
