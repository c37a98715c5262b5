// `tnet ping`, `tnet whois` and `tnet netcheck` text, as Go's cmd/tailscale/cli ping.go,
// whois.go and netcheck.go print it, from the LocalAPI's JSON. I/O-free.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::cli {

// Go's tailscaleIPFromArg without the DNS fallback: an IP literal as is; else the first
// TailscaleIP of the peer named (MagicDNS name with or without the dot, its first label, or
// host name, case-insensitively); self=true when it names this node. nullopt: not a node.
struct PingTarget {
  std::string ip;
  bool self = false;
};
Result<std::optional<PingTarget>> pingTargetFromArg(const nlohmann::json& status, const std::string& arg);

// One ping answer (Go's ipnstate.PingResult JSON) → "pong from …" line; pingType is "disco",
// "TSMP" or "ICMP". Fails with the PingResult's Err.
Result<std::string> formatPong(const nlohmann::json& result, const std::string& pingType);

// Go's time.Duration(seconds).Round(unit).String().
std::string roundedSeconds(double seconds, int64_t unitNs);
std::string roundedNanos(int64_t ns, int64_t unitNs);

// Go's whois text (Machine:/User: blocks, tabwriter minwidth 10, padding 5; AllowedIPs beyond
// the first two; Capabilities from CapMap, sorted).
std::string formatWhoIs(const nlohmann::json& who);

// `tnet whois --json`: the LocalAPI answer as Go's json.Encoder with SetIndent("", "  ") prints it.
Result<std::string> formatWhoIsJson(std::string_view body);

// Go's printReport for `tailscale netcheck`, from {"Report": …, "Regions": …}
// (GET /localapi/v0/tailnetd/netcheck). osHasIpv6 feeds the IPv6 line as Go's OSHasIPv6.
std::string formatNetcheck(const nlohmann::json& answer, bool osHasIpv6, bool verbose);

}  // namespace tnet::cli
