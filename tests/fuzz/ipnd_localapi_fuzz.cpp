// libFuzzer: ipnd's LocalAPI handlers on arbitrary requests. Input: method \n path-suffix \n
// query \n flags-byte body. Invariants: no crash, a valid HTTP status, JSON bodies parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "services/ipnd/core/backend.h"

using namespace tnet;

namespace {
std::string_view takeLine(std::string_view& s) {
  auto nl = s.find('\n');
  std::string_view line = s.substr(0, nl);
  s = nl == std::string_view::npos ? std::string_view() : s.substr(nl + 1);
  return line;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ipnd::BackendOptions o;
  o.version = "fuzz";
  o.expectedServices = {"wgd"};
  o.newSessionId = [] { return std::string("0000000000000000"); };
  ipnd::Backend b(o);
  b.startAtBoot();
  // Up to three requests per input, so sequences (PATCH then start, …) are explored.
  for (int i = 0; i < 3 && !in.empty(); ++i) {
    ipnd::LocalApiRequest r;
    r.method = std::string(takeLine(in));
    r.path = "/localapi/v0/" + std::string(takeLine(in));
    r.query = std::string(takeLine(in));
    uint8_t flags = in.empty() ? 0 : uint8_t(in[0]);
    if (!in.empty()) in.remove_prefix(1);
    r.callerPrivileged = flags & 1;
    r.body = std::string(takeLine(in));
    auto resp = b.handleLocalApi(r, int64_t(flags) * 1000);
    if (resp.status < 200 || resp.status > 599) std::abort();
    if (resp.contentType == "application/json" && !resp.body.empty() && !ipn::parseJson(resp.body, true)) {
      std::abort();
    }
  }
  for (const auto& n : b.takeNotifies()) {
    if (!ipn::parseJson(n.json)) std::abort();
  }
  return 0;
}
