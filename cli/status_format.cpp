#include "cli/status_format.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>
#include <vector>

#include "libs/ipn/dns_name.h"
#include "cli/ip_prefix.h"
#include "cli/tab_writer.h"

namespace tnet::cli {
namespace {

using Json = nlohmann::json;

std::string str(const Json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

bool boolean(const Json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

int64_t integer(const Json& j, const char* key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

std::string firstIp(const Json& ps) {
  if (!ps.is_object()) return {};
  auto it = ps.find("TailscaleIPs");
  if (it == ps.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) return {};
  return (*it)[0].get<std::string>();
}

std::string dnsOrQuoteHostname(const Json& st, const Json& ps) {
  std::string base = ipn::trimDnsSuffix(str(ps, "DNSName"), str(st, "MagicDNSSuffix"));
  if (!base.empty()) return base;
  return "(" + ipn::goQuote(ipn::sanitizeHostname(str(ps, "HostName"))) + ")";
}

std::string ownerLogin(const Json& st, const Json& ps) {
  int64_t uid = integer(ps, "AltSharerUserID");
  if (uid == 0) uid = integer(ps, "UserID");
  if (uid == 0) return "-";
  std::string key = std::to_string(uid);
  auto users = st.find("User");
  if (users == st.end() || !users->is_object() || !users->contains(key)) return key;
  std::string login = str((*users)[key], "LoginName");
  size_t at = login.find('@');
  if (at != std::string::npos) return login.substr(0, at + 1);
  return login;
}

std::string lastSeenFmt(const Json& ps, std::chrono::system_clock::time_point now) {
  auto t = parseGoTime(str(ps, "LastSeen"));
  if (!t) return {};
  auto d = std::max<std::chrono::system_clock::duration>(now - *t, std::chrono::minutes(1));
  auto minutes = std::chrono::duration_cast<std::chrono::minutes>(d).count();
  if (minutes < 60) return ", last seen " + std::to_string(minutes) + "m ago";
  auto hours = minutes / 60;
  if (hours < 24) return ", last seen " + std::to_string(hours) + "h ago";
  return ", last seen " + std::to_string(hours / 24) + "d ago";
}

std::vector<std::string> peerCells(const Json& st, const Json& ps,
                                   std::chrono::system_clock::time_point now) {
  std::string s;
  std::string relay = str(ps, "Relay");
  int64_t tx = integer(ps, "TxBytes"), rx = integer(ps, "RxBytes");
  bool anyTraffic = tx != 0 || rx != 0;
  bool online = boolean(ps, "Online");
  bool exitNode = boolean(ps, "ExitNode");
  bool exitNodeOption = boolean(ps, "ExitNodeOption");
  std::string offline = online ? "" : "; offline" + lastSeenFmt(ps, now);
  if (!boolean(ps, "Active")) {
    if (exitNode)
      s += "idle; exit node" + offline;
    else if (exitNodeOption)
      s += "idle; offers exit node" + offline;
    else if (anyTraffic)
      s += "idle" + offline;
    else if (!online)
      s += "offline" + lastSeenFmt(ps, now);
    else
      s += "-";
  } else {
    s += "active; ";
    if (exitNode)
      s += "exit node; ";
    else if (exitNodeOption)
      s += "offers exit node; ";
    std::string curAddr = str(ps, "CurAddr"), peerRelay = str(ps, "PeerRelay");
    if (!relay.empty() && curAddr.empty() && peerRelay.empty())
      s += "relay " + ipn::goQuote(relay);
    else if (!curAddr.empty())
      s += "direct " + curAddr;
    else if (!peerRelay.empty())
      s += "peer-relay " + peerRelay;
    if (!online) s += offline;
  }
  if (anyTraffic) s += ", tx " + std::to_string(tx) + " rx " + std::to_string(rx);
  return {firstIp(ps), dnsOrQuoteHostname(st, ps), ownerLogin(st, ps), str(ps, "OS"), s};
}

// ipnstate.SortPeers: DNS name, host name, first IP, public key.
bool peerLess(const Json& a, const Json& b) {
  std::string da = str(a, "DNSName"), db = str(b, "DNSName");
  if ((!da.empty() || !db.empty()) && da != db) return da < db;
  std::string ha = str(a, "HostName"), hb = str(b, "HostName");
  if ((!ha.empty() || !hb.empty()) && ha != hb) return ha < hb;
  auto ia = IpAddr::parse(firstIp(a)), ib = IpAddr::parse(firstIp(b));
  if (ia && ib && !(*ia == *ib)) return *ia < *ib;
  return str(a, "PublicKey") < str(b, "PublicKey");
}

void appendHealth(const Json& st, std::string& out) {
  out += "# Health check:\n";
  for (const auto& m : st["Health"]) {
    if (m.is_string()) out += "#     - " + m.get<std::string>() + "\n";
  }
}

bool hasHealth(const Json& st) {
  auto it = st.find("Health");
  return it != st.end() && it->is_array() && !it->empty();
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parseGoTime(const std::string& text) {
  int y, mo, d, h, mi, s;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &consumed) != 6) {
    return std::nullopt;
  }
  if (y <= 1) return std::nullopt;  // Go's zero time.Time: "0001-01-01T00:00:00Z"
  std::string rest = text.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    rest = rest.substr(i);
  }
  long offset = 0;
  if (rest == "Z") {
    offset = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(rest.c_str() + 1, "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = (rest[0] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  time_t t = timegm(&tm);
  return std::chrono::system_clock::from_time_t(t - offset);
}

std::string backendStateDescription(const Json& st, bool& ok) {
  std::string state = str(st, "BackendState");
  ok = false;
  if (state == "Stopped") return "Tailscale is stopped.";
  if (state == "NeedsLogin") {
    std::string s = "Logged out.";
    std::string url = str(st, "AuthURL");
    if (!url.empty()) s += "\nLog in at: " + url;
    return s;
  }
  if (state == "NeedsMachineAuth") return "Machine is not yet approved by tailnet admin.";
  if (state == "Running" || state == "Starting") {
    ok = true;
    return state;
  }
  return "unexpected state: " + state;
}

StatusText formatStatus(const Json& st, const StatusView& view, std::chrono::system_clock::time_point now) {
  StatusText result;
  bool ok = false;
  std::string description = backendStateDescription(st, ok);
  if (!ok) {
    std::string state = str(st, "BackendState");
    if (hasHealth(st) && (state == "Starting" || state == "NoState")) {
      appendHealth(st, result.out);
      result.out += "\n";
    }
    result.out += description + "\n";
    result.exitCode = 1;
    return result;
  }

  TabWriter w;
  if (view.header) {
    w.line({"IP", "Hostname", "Owner", "OS", "Status"});
    w.line({"--", "--------", "-----", "--", "------"});
  }
  auto self = st.find("Self");
  if (view.self && self != st.end() && self->is_object()) w.line(peerCells(st, *self, now));

  if (view.peers) {
    std::vector<std::pair<std::string, const Json*>> keyed;
    auto peers = st.find("Peer");
    if (peers != st.end() && peers->is_object()) {
      for (auto it = peers->begin(); it != peers->end(); ++it) {
        if (!it->is_object() || boolean(*it, "ShareeNode")) continue;
        keyed.emplace_back(it.key(), &*it);
      }
    }
    // Status.Peers() orders by node key first; the stable sort then orders by name.
    std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::stable_sort(keyed.begin(), keyed.end(),
                     [](const auto& a, const auto& b) { return peerLess(*a.second, *b.second); });
    for (const auto& [key, ps] : keyed) {
      if (view.active && !boolean(*ps, "Active")) continue;
      w.line(peerCells(st, *ps, now));
    }
  }
  result.out += w.str();
  if (hasHealth(st)) {
    result.out += "\n";
    appendHealth(st, result.out);
  }
  return result;
}

}  // namespace tnet::cli
