// libFuzzer target for testcontrol's decoders of untrusted bytes: RegisterRequest, MapRequest
// (with Hostinfo normalisation), the admin PacketFilter (POST /admin/filter) and the re-encoding
// of what they accept. Built as fuzz_testcontrol_requests in the fuzz preset
// (tests/integration/testcontrol/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libs/ipn/go_json.h"
#include "services/controld/core/map_decode.h"
#include "tests/integration/testcontrol/filter_rules.h"
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
  if (auto f = tnet::testcontrol::parseFilterRules(text)) {
    // An accepted filter re-encodes to a fixed point, and the client's map decoder takes it.
    std::string encoded = tnet::ipn::goMarshal(*f);
    auto again = tnet::testcontrol::parseFilterRules(encoded);
    if (!again || tnet::ipn::goMarshal(*again) != encoded) __builtin_trap();
    auto m = tnet::controld::decodeMapResponse("{\"PacketFilter\":" + encoded + "}");
    if (!m || !m->packetFilter || m->packetFilter->size() != f->size()) __builtin_trap();
  }
  return 0;
}
