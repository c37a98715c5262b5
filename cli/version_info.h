// What `tnet version` reports, in the shape of Go's version.Meta.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace tnet::cli {

// The Tailscale capability version the suite claims (ARCHITECTURE.md §Words: 145 at the Go
// source we follow). Sent as the Tailscale-Cap header, as Go's LocalAPI client does, and
// reported as "cap". Keep equal to what controld claims.
inline constexpr int CAPABILITY_VERSION = 145;

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
