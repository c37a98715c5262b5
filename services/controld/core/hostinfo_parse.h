// tailcfg.Hostinfo / NetInfo JSON → our structs: ipnd hands controld the Hostinfo it built from
// prefs (controld.login / controld.setConfig) and magicsockd's NetInfo, both as Go JSON. Keys
// match as Go's decoder does (ASCII case-insensitive); unknown fields are ignored; a wrong type
// is an error naming the field.
#pragma once

#include <string_view>

#include "libs/base/result.h"
#include "services/controld/core/hostinfo.h"

namespace tnet::controld {

inline constexpr size_t MAX_HOSTINFO_JSON = 64u << 10;

Result<Hostinfo> hostinfoFromJson(std::string_view json);
Result<NetInfo> netInfoFromJson(std::string_view json);

}  // namespace tnet::controld
