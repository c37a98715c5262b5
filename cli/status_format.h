// `tnet status` as text, from a Go ipnstate.Status JSON (Go's cmd/tailscale/cli/status.go).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace tnet::cli {

struct StatusView {
  bool self = true;
  bool peers = true;
  bool active = false;
  bool header = false;
};

struct StatusText {
  std::string out;   // for stdout
  int exitCode = 0;  // 1 when the backend is not Running or Starting, as Go
};

StatusText formatStatus(const nlohmann::json& status, const StatusView& view,
                        std::chrono::system_clock::time_point now);

// Go's isRunningOrStarting description: "Logged out.", "Tailscale is stopped.", …
// ok is true for Running and Starting.
std::string backendStateDescription(const nlohmann::json& status, bool& ok);

// RFC 3339 time as Go marshals time.Time; nullopt for the zero time or garbage.
std::optional<std::chrono::system_clock::time_point> parseGoTime(const std::string& text);

}  // namespace tnet::cli
