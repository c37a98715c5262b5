// libFuzzer: the Go-JSON decoders ipnd runs on LocalAPI bodies and its own prefs file:
// ipn.Prefs (check-prefs, start's UpdatePrefs), ipn.MaskedPrefs (PATCH prefs), ipn.Options and
// the prefs.json file format. Invariants: no crash, and whatever decodes re-encodes to bytes
// that decode to the same value (encode ∘ decode is idempotent).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "libs/ipn/masked_prefs.h"
#include "libs/ipn/options.h"
#include "libs/ipn/prefs.h"
#include "services/ipnd/core/prefs_file.h"

using namespace tnet;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto doc = ipn::parseJson(text, true)) {
    ipn::Prefs p = ipn::newPrefs();
    if (ipn::prefsFromJson(*doc, p)) {
      std::string once = ipn::prefsToString(p, false);
      auto again = ipn::parseJson(once);
      check(again.has_value());
      ipn::Prefs q = ipn::newPrefs();
      check(ipn::prefsFromJson(*again, q).has_value());
      check(ipn::prefsToString(q, false) == once);
    }
  }

  if (auto mp = ipn::parseMaskedPrefs(text)) {
    ipn::Prefs p = ipn::newPrefs();
    ipn::applyEdits(p, *mp);
    std::string once = ipn::goMarshal(ipn::maskedPrefsToJson(*mp));
    auto back = ipn::parseMaskedPrefs(once);
    check(back.has_value());
    check(back->set == mp->set);
  }

  (void)ipn::parseOptions(text);

  if (auto f = ipnd::decodePrefsFile(text)) {
    std::string once = ipnd::encodePrefsFile(*f);
    auto back = ipnd::decodePrefsFile(once);
    check(back.has_value());
    check(ipnd::encodePrefsFile(*back) == once);
  }
  return 0;
}
