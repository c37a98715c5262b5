// Go's time.Time in JSON (RFC 3339 with optional fractional seconds), kept as whole Unix seconds:
// the control plane never needs sub-second precision (key expiry, last seen, control time).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::controld {

// Parses "2006-01-02T15:04:05[.frac](Z|±hh:mm)". Go's zero time (year 1) yields nullopt, which
// is how every "omitzero"/"never" time is represented here.
Result<std::optional<int64_t>> parseGoTime(std::string_view text);
// "2006-01-02T15:04:05Z" (UTC); nullopt is Go's zero time "0001-01-01T00:00:00Z".
std::string formatGoTime(std::optional<int64_t> unixSeconds);

}  // namespace tnet::controld
