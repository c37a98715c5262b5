// libFuzzer: the `tailnetd --config` / --config-fd parser (Go's ConfigVAlpha). Invariants: no
// crash; an accepted config converts to MaskedPrefs and re-serialises to a document that is
// accepted again and serialises to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "libs/ipn/config_valpha.h"

using namespace tnet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = ipn::parseConfigVAlpha(text);
  if (!c) return 0;
  if (!ipn::configToMaskedPrefs(*c)) std::abort();
  std::string once = ipn::configVAlphaToString(*c);
  auto back = ipn::parseConfigVAlpha(once);
  if (!back) std::abort();
  if (ipn::configVAlphaToString(*back) != once) std::abort();
  return 0;
}
