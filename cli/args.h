// Command-line spellings Go's flag package accepts that CLI11 does not, rewritten before parsing.
#pragma once

#include <string>
#include <vector>

namespace tnet::cli {

// - "-name" / "-name=value" (Go's single-dash long flags) become "--name…"; one-letter flags
//   ("-h", "-V") are left alone.
// - "--name=" (Go's way to pass an empty value, e.g. --advertise-routes=) becomes "--name" "".
// - `-V`/`--version` alone mean `version`, `help` alone means `--help` (Go's RunWithContext).
// Everything after a bare "--" is passed through unchanged.
std::vector<std::string> normalizeArgs(std::vector<std::string> args);

}  // namespace tnet::cli
