// What `tnet version` reports, in the shape of Go's version.Meta.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "libs/ipn/capver.h"

namespace tnet::cli {

// The capability version the suite claims (libs/ipn/capver.h). Sent as the Tailscale-Cap header,
// as Go's LocalAPI client does, and reported as "cap".
inline constexpr int CAPABILITY_VERSION = ipn::CAPABILITY_VERSION;

// "0.1.0" from the project version (TNET_VERSION, set by the top-level CMakeLists).
std::string shortVersion();
// majorMinorPatch without any "-suffix".
std::string majorMinorPatch();
// The long form: the short version plus the git commit the build saw, when known.
std::string longVersion();

// Go's `tailscale version --json` object: majorMinorPatch, short, long, gitCommit (when
// known), daemonLong (when asked), cap. Key order follows version.Meta.
nlohmann::ordered_json versionJson(const std::string& daemonLong);

// Go's version.String(): the short version, then indented detail lines.
std::string versionText();

}  // namespace tnet::cli
