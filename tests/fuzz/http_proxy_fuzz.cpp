// libFuzzer: netstackd's HTTP proxy request-head parser. Invariants: no crash; the head length
// lies within the input; a forwarded request head is itself parseable as an origin-form request
// line (it never carries CR/LF inside a line) and ends with one blank line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "services/netstackd/core/http_proxy.h"

using namespace tnet::netstack;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = http::parseProxyRequest({data, size});
  if (r.status == http::Status::OK) {
    if (r.headLen > size || r.host.empty()) std::abort();
    if (!r.isConnect) {
      const std::string& f = r.forwardHead;
      if (f.size() < 4 || f.compare(f.size() - 4, 4, "\r\n\r\n") != 0) std::abort();
      if (f.find("\r\n\r\n") != f.size() - 4) std::abort();
    }
  }
  (void)http::buildResponse(r.failStatus, r.error);
  return 0;
}
