// Go's ipn.MaskedPrefs: Prefs fields flattened at the top level plus one `<Field>Set` flag per
// field (AutoUpdateSet is an object {CheckSet, ApplySet}). Applying it copies only the fields
// whose flag is set. Unlike Go (which ignores unknown keys), an unknown key is an error that
// names it, so a typo in `tnet set` never silently does nothing.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "libs/base/result.h"
#include "libs/ipn/prefs.h"

namespace tnet::ipn {

struct MaskedPrefs {
  Prefs prefs;
  std::set<std::string> set;  // Go field names whose <Name>Set is true (AutoUpdate excluded)
  bool autoUpdateCheckSet = false;
  bool autoUpdateApplySet = false;

  bool isSet(std::string_view field) const { return set.count(std::string(field)) != 0; }
  void mark(std::string_view field) { set.insert(std::string(field)); }
  bool empty() const { return set.empty() && !autoUpdateCheckSet && !autoUpdateApplySet; }
  // Go's SetsInternal: fields a LocalAPI client may not set.
  bool setsInternal() const { return isSet("InternalExitNodePrior"); }
};

// Decodes a MaskedPrefs JSON object (Go's field names, case-insensitive).
Result<MaskedPrefs> maskedPrefsFromJson(const Json& v);
Result<MaskedPrefs> parseMaskedPrefs(std::string_view text);

// Go's Prefs.ApplyEdits.
void applyEdits(Prefs& p, const MaskedPrefs& m);

// Go's JSON for MaskedPrefs (embedded Prefs fields, then the set flags that are true).
OrderedJson maskedPrefsToJson(const MaskedPrefs& m);

}  // namespace tnet::ipn
