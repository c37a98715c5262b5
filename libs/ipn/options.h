// Go's ipn.Options, the body of POST /localapi/v0/start.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "libs/base/result.h"
#include "libs/ipn/prefs.h"

namespace tnet::ipn {

struct Options {
  std::string frontendLogId;
  std::optional<Prefs> updatePrefs;  // null → keep the current prefs
  std::string authKey;               // secret: never logged, never persisted
};

// json.NewDecoder(body).Decode(&o): one value, keys case-insensitive, unknown keys ignored.
// UpdatePrefs decodes into a zero Prefs, as Go's *Prefs does.
Result<Options> parseOptions(std::string_view text);

}  // namespace tnet::ipn
