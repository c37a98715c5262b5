// libFuzzer target for testcontrol's decoders of client bytes: RegisterRequest, MapRequest (with
// Hostinfo normalisation) and the re-encoding of what they accept. Built as
// fuzz_testcontrol_requests in the fuzz preset (tests/integration/testcontrol/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libs/ipn/go_json.h"
#include "tests/integration/testcontrol/server_requests.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto r = tnet::testcontrol::parseRegisterRequest(text); r && r->hostinfo) {
    // What the server stores must itself decode back to the same thing (what peers receive).
    auto again = tnet::ipn::parseJson(r->hostinfo->json);
    if (!again) __builtin_trap();
    auto h = tnet::testcontrol::normalizeHostinfo(*again);
    if (!h || h->json != r->hostinfo->json) __builtin_trap();
  }
  (void)tnet::testcontrol::parseMapRequest(text);
  return 0;
}
