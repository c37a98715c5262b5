// Go time.Duration text ("30s", "1m30s", "500ms", "1.5h") for `tnet up --timeout`.
#pragma once

#include <chrono>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::cli {

// Parses Go's time.ParseDuration syntax (units ns, us, µs, ms, s, m, h; optional sign and
// fractions; "0" alone). Unlike Go, a bare number means seconds ("30" = 30s), because an
// operator typing `--timeout 30` means seconds and Go's flag would only reject it.
Result<std::chrono::nanoseconds> parseDuration(std::string_view text);

// Go's Duration.String() ("1m30s", "500ms", "0s"), for messages.
std::string formatDuration(std::chrono::nanoseconds d);

}  // namespace tnet::cli
