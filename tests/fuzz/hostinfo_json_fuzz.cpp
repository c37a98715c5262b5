// Fuzzes controld's parsers of the Hostinfo and NetInfo JSON ipnd hands it (bytes from another
// process): a parsed Hostinfo must re-encode without trouble.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "libs/ipn/go_json.h"
#include "services/controld/core/hostinfo_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto h = tnet::controld::hostinfoFromJson(text)) (void)tnet::ipn::goMarshal(tnet::controld::hostinfoToJson(*h));
  (void)tnet::controld::netInfoFromJson(text);
  return 0;
}
