// `tnet ip`: which addresses to print, from a Go ipnstate.Status JSON (Go's cmd/tailscale/cli/ip.go).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libs/base/result.h"

namespace tnet::cli {

struct IpArgs {
  bool want1 = false;
  bool want4 = false;
  bool want6 = false;
  std::string peer;  // "" = this node; else a peer's IP, MagicDNS name or host name
};

// The lines `tnet ip` prints, or Go's error text.
Result<std::vector<std::string>> selectIps(const nlohmann::json& status, const IpArgs& args);

}  // namespace tnet::cli
