#include "libs/ipn/masked_prefs.h"

namespace tnet::ipn {

Result<MaskedPrefs> maskedPrefsFromJson(const Json& v) {
  MaskedPrefs m;
  if (v.is_null()) return m;
  if (!v.is_object()) {
    return Error::invalid("json: cannot unmarshal " + std::string(goJsonKind(v)) +
                          " into Go value of type ipn.MaskedPrefs");
  }
  for (const auto& [k, e] : v.items()) {
    if (const PrefsField* f = findPrefsField(k)) {
      TNET_TRY_VOID(f->parse(e, m.prefs, "MaskedPrefs"));
      continue;
    }
    std::string_view key = k;
    if (key.size() > 3 && keyEqualFold(key.substr(key.size() - 3), "Set")) {
      std::string_view base = key.substr(0, key.size() - 3);
      if (keyEqualFold(base, "AutoUpdate")) {
        if (e.is_null()) continue;
        if (!e.is_object()) return typeError(e, "MaskedPrefs", "AutoUpdateSet", "ipn.AutoUpdatePrefsMask");
        for (const auto& [sk, se] : e.items()) {
          if (keyEqualFold(sk, "CheckSet")) {
            TNET_TRY_VOID(readBool(se, m.autoUpdateCheckSet, "AutoUpdatePrefsMask", "CheckSet"));
          } else if (keyEqualFold(sk, "ApplySet")) {
            TNET_TRY_VOID(readBool(se, m.autoUpdateApplySet, "AutoUpdatePrefsMask", "ApplySet"));
          } else {
            return Error::invalid("json: unknown field \"AutoUpdateSet." + sk + "\"");
          }
        }
        continue;
      }
      // "Config" (Persist) has no Set flag: it can never be edited.
      const PrefsField* f = findPrefsField(base);
      if (f != nullptr && f->name != "Config" && f->name != "AutoUpdate") {
        bool flag = false;
        TNET_TRY_VOID(readBool(e, flag, "MaskedPrefs", std::string(f->name) + "Set"));
        if (flag) {
          m.mark(f->name);
        } else {
          m.set.erase(std::string(f->name));
        }
        continue;
      }
    }
    return Error::invalid("json: unknown field \"" + k + "\"");
  }
  return m;
}

Result<MaskedPrefs> parseMaskedPrefs(std::string_view text) {
  TNET_TRY(Json v, parseJson(text, /*allowTrailing=*/true));
  return maskedPrefsFromJson(v);
}

void applyEdits(Prefs& p, const MaskedPrefs& m) {
  for (const auto& f : prefsFields()) {
    if (f.name == "AutoUpdate" || f.name == "Config") continue;
    if (m.isSet(f.name)) f.copy(m.prefs, p);
  }
  if (m.autoUpdateCheckSet) p.autoUpdate.check = m.prefs.autoUpdate.check;
  if (m.autoUpdateApplySet) p.autoUpdate.apply = m.prefs.autoUpdate.apply;
}

OrderedJson maskedPrefsToJson(const MaskedPrefs& m) {
  OrderedJson o = prefsToJson(m.prefs);
  for (const auto& f : prefsFields()) {
    if (f.name == "Config") continue;
    if (f.name == "AutoUpdate") {
      if (m.autoUpdateCheckSet || m.autoUpdateApplySet) {
        OrderedJson s = OrderedJson::object();
        if (m.autoUpdateCheckSet) s["CheckSet"] = true;
        if (m.autoUpdateApplySet) s["ApplySet"] = true;
        o["AutoUpdateSet"] = std::move(s);
      }
      continue;
    }
    if (m.isSet(f.name)) o[std::string(f.name) + "Set"] = true;
  }
  return o;
}

}  // namespace tnet::ipn
