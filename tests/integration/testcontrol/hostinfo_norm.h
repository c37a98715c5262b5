// A client's tailcfg.Hostinfo as the server keeps it: decoded with Go's rules (known fields only,
// keys matched case-insensitively, wrong JSON kinds rejected) and re-encoded in Go's field order
// with omitzero/omitempty, so peers receive what a Go control server would echo back, never the
// client's raw bytes.
#pragma once

#include <string>

#include "libs/base/result.h"
#include "libs/ipn/go_json.h"

namespace tnet::testcontrol {

struct StoredHostinfo {
  std::string json;       // compact Go JSON of the normalised Hostinfo ("{}" when empty)
  std::string hostname;   // Hostinfo.Hostname
  int preferredDerp = 0;  // Hostinfo.NetInfo.PreferredDERP
  bool operator==(const StoredHostinfo&) const = default;
};

// `v` is the value of a request's "Hostinfo" field (an object; null is handled by the caller).
Result<StoredHostinfo> normalizeHostinfo(const ipn::Json& v);

// The object member Go's decoder would bind to field `name`: an exact key match wins, otherwise
// the last ASCII case-insensitive match. nullptr when absent.
const ipn::Json* goField(const ipn::Json& object, std::string_view name);

}  // namespace tnet::testcontrol
