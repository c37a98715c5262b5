#include "cli/peer_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "cli/duration.h"
#include "libs/ipn/go_json.h"
#include "libs/ipn/netip.h"

namespace tnet::cli {

namespace {

using Json = nlohmann::json;

std::string str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t num(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

bool namesNode(const Json& node, const std::string& arg) {
  std::string dns = str(node, "DNSName");
  if (!dns.empty() && arg == dns) return true;
  std::string bare = !dns.empty() && dns.back() == '.' ? dns.substr(0, dns.size() - 1) : dns;
  std::string label = bare.substr(0, bare.find('.'));
  std::string a = lower(arg);
  if (!bare.empty() && (a == lower(bare) || a == lower(label))) return true;
  std::string host = str(node, "HostName");
  return !host.empty() && a == lower(host);
}

std::string firstIp(const Json& node) {
  auto ips = node.find("TailscaleIPs");
  if (ips == node.end() || !ips->is_array() || ips->empty() || !(*ips)[0].is_string()) return "";
  return (*ips)[0].get<std::string>();
}

// Go's fmt %v of []netip.Prefix: "[a b]".
std::string goList(const Json& j) {
  std::string out = "[";
  if (j.is_array()) {
    bool first = true;
    for (const auto& v : j) {
      if (!v.is_string()) continue;
      if (!first) out += " ";
      out += v.get<std::string>();
      first = false;
    }
  }
  return out + "]";
}

// A block of tabwriter lines (label<TAB>value) as Go's tabwriter.NewWriter(w, 10, 5, 5, ' ', 0):
// the label column is max(minwidth, widest label + padding) wide.
void tabBlock(std::string& out, const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t widest = 0;
  for (const auto& r : rows) widest = std::max(widest, r.first.size());
  size_t width = std::max<size_t>(10, widest + 5);
  for (const auto& [label, value] : rows) out += label + std::string(width - label.size(), ' ') + value + "\n";
}

// Go's opt.Bool printed with %v: "", "true" or "false".
std::string optBoolText(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return "";
  return it->get<bool>() ? "true" : "false";
}

}  // namespace

Result<std::optional<PingTarget>> pingTargetFromArg(const Json& status, const std::string& arg) {
  if (ipn::parseIpAddr(arg)) return std::optional<PingTarget>(PingTarget{arg, false});
  auto peers = status.find("Peer");
  if (peers != status.end() && peers->is_object()) {
    for (const auto& [key, p] : peers->items()) {
      if (!namesNode(p, arg)) continue;
      std::string ip = firstIp(p);
      if (ip.empty()) return Error::failed("node found but lacks an IP");
      return std::optional<PingTarget>(PingTarget{ip, false});
    }
  }
  auto self = status.find("Self");
  if (self != status.end() && self->is_object() && namesNode(*self, arg)) {
    std::string ip = firstIp(*self);
    if (!ip.empty()) return std::optional<PingTarget>(PingTarget{ip, true});
  }
  return std::optional<PingTarget>();
}

std::string roundedSeconds(double seconds, int64_t unitNs) {
  // time.Duration(float) truncates.
  return roundedNanos(int64_t(seconds * 1e9), unitNs);
}

std::string roundedNanos(int64_t ns, int64_t unitNs) {
  // Go's Duration.Round: halves away from zero.
  int64_t r = ns % unitNs;
  int64_t base = ns - r;
  if (r < 0) r = -r;
  if (r + r >= unitNs) base += ns < 0 ? -unitNs : unitNs;
  return formatDuration(std::chrono::nanoseconds(base));
}

Result<std::string> formatPong(const Json& pr, const std::string& pingType) {
  if (!pr.is_object()) return Error::invalid("invalid ping result from tailnetd");
  std::string err = str(pr, "Err");
  if (!err.empty()) return Error::failed(err);
  double latency = 0;
  if (auto it = pr.find("LatencySeconds"); it != pr.end() && it->is_number()) latency = it->get<double>();
  std::string via = str(pr, "Endpoint");
  if (num(pr, "DERPRegionID") != 0) via = "DERP(" + str(pr, "DERPRegionCode") + ")";
  if (via.empty()) via = pingType;
  std::string extra;
  if (int64_t port = num(pr, "PeerAPIPort"); port != 0) extra = ", " + std::to_string(port);
  return "pong from " + str(pr, "NodeName") + " (" + str(pr, "NodeIP") + extra + ") via " + via + " in " +
         roundedSeconds(latency, 1000000) + "\n";
}

std::string formatWhoIs(const Json& who) {
  Json node = who.value("Node", Json::object());
  Json user = who.value("UserProfile", Json::object());
  if (!node.is_object()) node = Json::object();
  if (!user.is_object()) user = Json::object();
  std::string name = str(node, "Name");
  if (!name.empty() && name.back() == '.') name.pop_back();
  std::string out = "Machine:\n";
  std::vector<std::pair<std::string, std::string>> machine = {
      {"  Name:", name},
      {"  ID:", str(node, "StableID")},
      {"  Addresses:", goList(node.value("Addresses", Json::array()))},
  };
  // Go prints AllowedIPs[2:]: the routes beyond the node's own two addresses.
  auto allowed = node.find("AllowedIPs");
  if (allowed != node.end() && allowed->is_array() && allowed->size() > 2) {
    machine.emplace_back("  AllowedIPs:", goList(Json(std::vector<Json>(allowed->begin() + 2, allowed->end()))));
  }
  auto tags = node.find("Tags");
  if (tags != node.end() && tags->is_array() && !tags->empty()) {
    std::string joined;
    for (const auto& t : *tags) {
      if (!t.is_string()) continue;
      if (!joined.empty()) joined += ", ";
      joined += t.get<std::string>();
    }
    machine.emplace_back("  Tags:", joined);
    tabBlock(out, machine);
  } else {
    tabBlock(out, machine);
    out += "User:\n";
    tabBlock(out, {{"  Name:", str(user, "LoginName")}, {"  ID:", std::to_string(num(user, "ID"))}});
  }
  // Capabilities (PeerCapMap): Go ranges over the map in random order; we print it sorted.
  auto caps = who.find("CapMap");
  if (caps != who.end() && caps->is_object() && !caps->empty()) {
    out += "Capabilities:\n";
    for (auto it = caps->begin(); it != caps->end(); ++it) {
      if (it.value().is_array() && !it.value().empty()) {
        out += "  - " + it.key() + ":\n";
        out += "      " + ipn::goMarshalIndent(nlohmann::ordered_json(it.value()), "      ", "  ") + "\n";
      } else {
        out += "  - " + it.key() + "\n";
      }
    }
  }
  return out;
}

Result<std::string> formatWhoIsJson(std::string_view body) {
  auto parsed = nlohmann::ordered_json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return Error::invalid("invalid whois answer from tailnetd");
  // Go decodes into apitype.WhoIsResponse and prints it (CurrentTailnet omitted) with
  // json.Encoder, SetIndent("", "  "): the LocalAPI's fields in its order, two-space indent.
  return ipn::goMarshalIndent(parsed, "", "  ") + "\n";
}

std::string formatNetcheck(const Json& answer, bool osHasIpv6, bool verbose) {
  Json report = answer.value("Report", Json::object());
  Json regions = answer.value("Regions", Json::object());
  if (!report.is_object()) report = Json::object();
  if (!regions.is_object()) regions = Json::object();
  auto flag = [&](const char* k) { return report.value(k, Json(false)).is_boolean() && report.value(k, false); };
  std::string out = "\nReport:\n";
  out += "\t* Time: " + str(report, "Now") + "\n";
  out += std::string("\t* UDP: ") + (flag("UDP") ? "true" : "false") + "\n";
  std::string v4 = str(report, "GlobalV4"), v6 = str(report, "GlobalV6");
  out += v4.empty() ? "\t* IPv4: (no addr found)\n" : "\t* IPv4: yes, " + v4 + "\n";
  if (!v6.empty()) {
    out += "\t* IPv6: yes, " + v6 + "\n";
  } else if (flag("IPv6")) {
    out += "\t* IPv6: (no addr found)\n";
  } else if (osHasIpv6) {
    out += "\t* IPv6: no, but OS has support\n";
  } else {
    out += "\t* IPv6: no, unavailable in OS\n";
  }
  out += "\t* MappingVariesByDestIP: " + optBoolText(report, "MappingVariesByDestIP") + "\n";
  out += "\t* PortMapping: \n";  // tailnetd does not probe UPnP, NAT-PMP or PCP
  if (std::string cp = optBoolText(report, "CaptivePortal"); !cp.empty()) out += "\t* CaptivePortal: " + cp + "\n";

  std::map<int64_t, int64_t> latency;  // region → ns
  if (auto rl = report.find("RegionLatency"); rl != report.end() && rl->is_object()) {
    for (const auto& [k, v] : rl->items()) {
      if (!v.is_number()) continue;
      try {
        latency[std::stoll(k)] = v.get<int64_t>();
      } catch (const std::exception&) {
      }
    }
  }
  auto regionField = [&](int64_t id, const char* field) {
    auto it = regions.find(std::to_string(id));
    return it != regions.end() && it->is_object() ? str(*it, field) : std::string();
  };
  if (latency.empty()) {
    out += "\t* Nearest DERP: unknown (no response to latency probes)\n";
    return out;
  }
  int64_t preferred = num(report, "PreferredDERP");
  out += preferred != 0 ? "\t* Nearest DERP: " + regionField(preferred, "RegionName") + "\n" : "\t* Nearest DERP: [none]\n";
  out += "\t* DERP latency:\n";
  std::vector<int64_t> ids;
  for (const auto& [k, v] : regions.items()) {
    try {
      ids.push_back(std::stoll(k));
    } catch (const std::exception&) {
    }
  }
  // Measured regions first, fastest first; then the others by id (Go's sort).
  std::sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) {
    auto la = latency.find(a), lb = latency.find(b);
    bool oka = la != latency.end(), okb = lb != latency.end();
    if (oka != okb) return oka;
    if (!oka) return a < b;
    return la->second != lb->second ? la->second < lb->second : a < b;
  });
  for (int64_t id : ids) {
    auto l = latency.find(id);
    std::string lat = l == latency.end() ? "" : roundedNanos(l->second, 100000);
    std::string num = verbose ? "#" + std::to_string(id) + " " : "";
    char buf[512];
    std::snprintf(buf, sizeof buf, "\t\t- %3s: %-7s %s(%s)\n", regionField(id, "RegionCode").c_str(), lat.c_str(),
                  num.c_str(), regionField(id, "RegionName").c_str());
    out += buf;
  }
  return out;
}

}  // namespace tnet::cli
