#include "libs/ipn/options.h"

namespace tnet::ipn {

Result<Options> parseOptions(std::string_view text) {
  TNET_TRY(Json v, parseJson(text, /*allowTrailing=*/true));
  Options o;
  if (v.is_null()) return o;
  if (!v.is_object()) {
    return Error::invalid("json: cannot unmarshal " + std::string(goJsonKind(v)) +
                          " into Go value of type ipn.Options");
  }
  for (const auto& [k, e] : v.items()) {
    if (keyEqualFold(k, "FrontendLogID")) {
      TNET_TRY_VOID(readString(e, o.frontendLogId, "Options", "FrontendLogID"));
    } else if (keyEqualFold(k, "AuthKey")) {
      TNET_TRY_VOID(readString(e, o.authKey, "Options", "AuthKey"));
    } else if (keyEqualFold(k, "UpdatePrefs")) {
      if (e.is_null()) {
        o.updatePrefs.reset();
        continue;
      }
      Prefs p;
      TNET_TRY_VOID(prefsFromJson(e, p, "Prefs"));
      o.updatePrefs = std::move(p);
    }
  }
  return o;
}

}  // namespace tnet::ipn
