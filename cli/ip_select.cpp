#include "cli/ip_select.h"

namespace tnet::cli {

namespace {

std::vector<std::string> ipsOf(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& ip : j)
    if (ip.is_string()) out.push_back(ip.get<std::string>());
  return out;
}

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool isV6(const std::string& ip) {
  return ip.find(':') != std::string::npos;
}

// Go's tailscaleIPFromArg + peerMatchingIP: an IP is looked up among the peers' addresses; a
// name matches a peer's MagicDNS name (with or without the final dot), its first label, or its
// host name.
const nlohmann::json* findPeer(const nlohmann::json& status, const std::string& arg, std::string& err) {
  auto peers = status.find("Peer");
  bool isIp = arg.find(':') != std::string::npos ||
              (!arg.empty() && arg.find_first_not_of("0123456789.") == std::string::npos);
  if (peers != status.end() && peers->is_object()) {
    for (const auto& [key, p] : peers->items()) {
      if (isIp) {
        for (const auto& ip : ipsOf(p.value("TailscaleIPs", nlohmann::json())))
          if (ip == arg) return &p;
        continue;
      }
      std::string dns = str(p, "DNSName");
      std::string bare = !dns.empty() && dns.back() == '.' ? dns.substr(0, dns.size() - 1) : dns;
      std::string label = bare.substr(0, bare.find('.'));
      if (arg == dns || arg == bare || arg == label || arg == str(p, "HostName")) return &p;
    }
  }
  err = isIp ? "no peer found with IP " + arg : "unknown hostname: \"" + arg + "\"";
  return nullptr;
}

}  // namespace

Result<std::vector<std::string>> selectIps(const nlohmann::json& status, const IpArgs& args) {
  int nflags = int(args.want1) + int(args.want4) + int(args.want6);
  if (nflags > 1) return Error::invalid("tailscale ip -4, -6, and -1 are mutually exclusive");
  bool v4 = args.want4, v6 = args.want6;
  if (!v4 && !v6) v4 = v6 = true;
  std::vector<std::string> ips = ipsOf(status.value("TailscaleIPs", nlohmann::json()));
  if (!args.peer.empty()) {
    std::string err;
    const nlohmann::json* p = findPeer(status, args.peer, err);
    if (p == nullptr) return Error::invalid(err);
    ips = ipsOf(p->value("TailscaleIPs", nlohmann::json()));
  }
  if (ips.empty()) {
    return Error::failed("no current Tailscale IPs; state: " + str(status, "BackendState"));
  }
  if (args.want1) ips.resize(1);
  std::vector<std::string> out;
  for (const auto& ip : ips) {
    if ((isV6(ip) && v6) || (!isV6(ip) && v4)) out.push_back(ip);
  }
  if (out.empty()) return Error::failed(v4 ? "no Tailscale IPv4 address" : "no Tailscale IPv6 address");
  return out;
}

}  // namespace tnet::cli
