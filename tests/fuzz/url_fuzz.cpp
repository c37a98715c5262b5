// Fuzzes libs/net's URL parser (libs/net/url.h), which also parses control-supplied PingRequest
// URLs: every input either fails with an error or parses to fields that rebuild into a URL that
// parses back to the same fields. libs/net is not part of the fuzz build (it needs Asio), so the
// I/O-free url.cpp is compiled into this target directly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libs/net/url.cpp"  // NOLINT(bugprone-suspicious-include): I/O-free, see above

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto u = tnet::net::parseUrl(text);
  if (!u) {
    FUZZ_CHECK(!u.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(!u->host.empty());
  FUZZ_CHECK(u->port != 0);
  FUZZ_CHECK(!u->target.empty() && u->target[0] == '/');
  for (char c : u->hostHeader() + u->target) FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
  std::string rebuilt = std::string(u->tls ? "https://" : "http://") + u->hostHeader() + u->target;
  auto again = tnet::net::parseUrl(rebuilt);
  FUZZ_CHECK(again);
  FUZZ_CHECK(again->tls == u->tls && again->host == u->host && again->port == u->port &&
             again->explicitPort == u->explicitPort && again->target == u->target);
  return 0;
}
