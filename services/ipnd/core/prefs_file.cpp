#include "services/ipnd/core/prefs_file.h"

namespace tnet::ipnd {

bool isNodePublicKeyText(std::string_view s) {
  constexpr std::string_view PREFIX = "nodekey:";
  if (s.size() != PREFIX.size() + 64 || s.substr(0, PREFIX.size()) != PREFIX) return false;
  for (char c : s.substr(PREFIX.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string encodePrefsFile(const PrefsFile& f) {
  ipn::OrderedJson o = ipn::OrderedJson::object();
  o["Format"] = PREFS_FILE_FORMAT;
  o["Prefs"] = ipn::prefsToJson(f.prefs);
  if (f.nodePublicKey) o["NodePublicKey"] = *f.nodePublicKey;
  return ipn::goMarshal(o, true) + "\n";
}

Result<PrefsFile> decodePrefsFile(std::string_view bytes) {
  TNET_TRY(ipn::Json doc, ipn::parseJson(bytes));
  if (!doc.is_object()) return Error::invalid("prefs file is not a JSON object");
  auto format = doc.find("Format");
  if (format == doc.end() || !format->is_string() || format->get<std::string>() != PREFS_FILE_FORMAT) {
    return Error::invalid("prefs file has no \"Format\":\"" + std::string(PREFS_FILE_FORMAT) + "\"");
  }
  PrefsFile f;
  for (const auto& [k, v] : doc.items()) {
    if (k == "Format") continue;
    if (k == "Prefs") {
      if (!v.is_object()) return Error::invalid("prefs file: \"Prefs\" is not an object");
      TNET_TRY_VOID(ipn::prefsFromJson(v, f.prefs));
    } else if (k == "NodePublicKey") {
      if (!v.is_string() || !isNodePublicKeyText(v.get<std::string>())) {
        return Error::invalid("prefs file: \"NodePublicKey\" is not a nodekey:<64 hex>");
      }
      f.nodePublicKey = v.get<std::string>();
    } else {
      return Error::invalid("prefs file: unknown field \"" + k + "\"");
    }
  }
  if (doc.find("Prefs") == doc.end()) return Error::invalid("prefs file has no \"Prefs\"");
  return f;
}

}  // namespace tnet::ipnd
