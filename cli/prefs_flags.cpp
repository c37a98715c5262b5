#include "cli/prefs_flags.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>
#include <variant>

#include "libs/ipn/dns_name.h"
#include "cli/ip_prefix.h"
#include "libs/ipn/prefs.h"

namespace tnet::cli {
namespace {

std::string str(const Json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

bool boolean(const Json& j, const char* key, bool fallback = false) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

std::vector<std::string> strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  if (!j.is_object()) return out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string toLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Go's ipn.IsLoginServerSynonym.
bool isLoginServerSynonym(const std::string& v) {
  return v == "https://login.tailscale.com" || v == "https://controlplane.tailscale.com";
}

// kballard/go-shellquote's Join for one word: plain when safe, else single-quoted.
std::string shellQuote(const std::string& s) {
  if (s.empty()) return "''";
  bool safe = std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
  });
  if (safe) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// A flag's value as Go's prefsToFlags would hold it: a bool or a string.
using FlagValue = std::variant<bool, std::string>;

std::string fmtFlagValueArg(const std::string& name, const FlagValue& v) {
  if (std::holds_alternative<bool>(v)) {
    return std::get<bool>(v) ? "--" + name : "--" + name + "=false";
  }
  const std::string& s = std::get<std::string>(v);
  if (s.empty()) return "--" + name + "=";
  return "--" + name + "=" + shellQuote(s);
}

std::string exitNodeIpString(const Json& prefs, const Json& status) {
  std::string ip = str(prefs, "ExitNodeIP");
  if (!ip.empty()) return ip;
  std::string id = str(prefs, "ExitNodeID");
  if (id.empty() || !status.is_object()) return {};
  auto peers = status.find("Peer");
  if (peers == status.end() || !peers->is_object()) return {};
  for (const auto& [key, ps] : peers->items()) {
    if (str(ps, "ID") == id) {
      auto ips = strings(ps, "TailscaleIPs");
      return ips.empty() ? std::string() : ips.front();
    }
  }
  return {};
}

// Go's prefsToFlags, limited to the flags tnet offers.
std::vector<std::pair<std::string, FlagValue>> prefsToFlags(const Json& prefs, const Json& status) {
  std::vector<std::string> routes = strings(prefs, "AdvertiseRoutes");
  std::string nonExit;
  for (const auto& r : routes) {
    if (r == "0.0.0.0/0" || r == "::/0") continue;
    if (!nonExit.empty()) nonExit += ",";
    nonExit += r;
  }
  return {
      {"accept-dns", boolean(prefs, "CorpDNS")},
      {"accept-routes", boolean(prefs, "RouteAll")},
      {"advertise-exit-node", containsExitRoutes(routes)},
      {"advertise-routes", nonExit},
      {"exit-node", exitNodeIpString(prefs, status)},
      {"exit-node-allow-lan-access", boolean(prefs, "ExitNodeAllowLANAccess")},
      {"hostname", str(prefs, "Hostname")},
      {"login-server", str(prefs, "ControlURL")},
      {"operator", str(prefs, "OperatorUser")},
      {"shields-up", boolean(prefs, "ShieldsUp")},
  };
}

// The Prefs fields each flag writes (Go's prefsOfFlag), for …Set markers.
std::vector<std::string> prefsOfFlag(const std::string& flag) {
  if (flag == "login-server") return {"ControlURL"};
  if (flag == "accept-routes") return {"RouteAll"};
  if (flag == "accept-dns") return {"CorpDNS"};
  if (flag == "shields-up") return {"ShieldsUp"};
  if (flag == "advertise-routes" || flag == "advertise-exit-node") return {"AdvertiseRoutes"};
  if (flag == "exit-node") return {"ExitNodeIP", "ExitNodeID"};
  if (flag == "exit-node-allow-lan-access") return {"ExitNodeAllowLANAccess"};
  if (flag == "hostname") return {"Hostname"};
  if (flag == "operator") return {"OperatorUser"};
  return {};
}

// Orders a {field: value} set and its markers as Go's MaskedPrefs JSON does.
OrderedJson orderedMasked(const Json& fields, const std::vector<std::string>& setFields) {
  // libs/ipn's Prefs table is in Go's declaration order: the fields first, then the markers.
  OrderedJson out = OrderedJson::object();
  for (const auto& field : ipn::prefsFields()) {
    const std::string f(field.name);
    if (fields.contains(f)) out[f] = fields[f];
  }
  for (const auto& field : ipn::prefsFields()) {
    const std::string f(field.name);
    if (std::find(setFields.begin(), setFields.end(), f) != setFields.end()) out[f + "Set"] = true;
  }
  return out;
}

// The given-flag names with the …Set markers they imply, deduplicated.
std::vector<std::string> setFieldsOf(const std::vector<std::string>& flagNames) {
  std::vector<std::string> out;
  for (const auto& name : flagNames) {
    for (const auto& f : prefsOfFlag(name)) {
      if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    }
  }
  return out;
}

Json peersOf(const Json& status) {
  if (!status.is_object()) return Json::object();
  auto it = status.find("Peer");
  if (it == status.end() || !it->is_object()) return Json::object();
  return *it;
}

}  // namespace

std::vector<std::string> PrefFlags::givenFlagNames() const {
  std::vector<std::string> out;
  if (acceptDns) out.push_back("accept-dns");
  if (acceptRoutes) out.push_back("accept-routes");
  if (advertiseExitNode) out.push_back("advertise-exit-node");
  if (advertiseRoutes) out.push_back("advertise-routes");
  if (exitNode) out.push_back("exit-node");
  if (exitNodeAllowLanAccess) out.push_back("exit-node-allow-lan-access");
  if (hostname) out.push_back("hostname");
  if (loginServer) out.push_back("login-server");
  if (operatorUser) out.push_back("operator");
  if (shieldsUp) out.push_back("shields-up");
  return out;
}

OrderedJson defaultPrefs() {
  OrderedJson p = OrderedJson::object();
  p["ControlURL"] = "";
  p["RouteAll"] = false;  // DefaultRouteAll("linux")
  p["ExitNodeID"] = "";
  p["ExitNodeIP"] = "";
  p["InternalExitNodePrior"] = "";
  p["ExitNodeAllowLANAccess"] = false;
  p["CorpDNS"] = true;
  p["RunSSH"] = false;
  p["RunWebClient"] = false;
  p["WantRunning"] = false;
  p["LoggedOut"] = false;
  p["ShieldsUp"] = false;
  p["AdvertiseTags"] = nullptr;
  p["Hostname"] = "";
  p["NotepadURLs"] = false;
  p["AdvertiseRoutes"] = nullptr;
  p["AdvertiseServices"] = nullptr;
  p["Sync"] = nullptr;
  p["NoSNAT"] = false;
  p["NoStatefulFiltering"] = true;
  p["NetfilterMode"] = 2;  // preftype.NetfilterOn
  p["AutoUpdate"] = {{"Check", true}, {"Apply", nullptr}};
  p["AppConnector"] = {{"Advertise", false}};
  p["PostureChecking"] = false;
  p["NetfilterKind"] = "";
  p["RemoteConfig"] = false;
  p["DriveShares"] = nullptr;
  p["Config"] = nullptr;
  return p;
}

Result<std::string> exitNodeIpOfArg(const std::string& arg, const Json& status) {
  auto selfIps = strings(status, "TailscaleIPs");
  auto isLocal = [&](const std::string& ip) {
    return std::find(selfIps.begin(), selfIps.end(), ip) != selfIps.end();
  };
  const Json peers = peersOf(status);
  if (auto ip = IpAddr::parse(arg)) {
    std::string canon = ip->toString();
    if (isLocal(canon)) {
      return Error::invalid("cannot use " + arg +
                            " as an exit node as it is a local IP address to this "
                            "machine; did you mean --advertise-exit-node?");
    }
    if (str(status, "BackendState") == "Running") {
      const Json* match = nullptr;
      for (const auto& [k, ps] : peers.items()) {
        for (const auto& pip : strings(ps, "TailscaleIPs")) {
          if (pip == canon) match = &ps;
        }
      }
      if (match == nullptr) return Error::invalid("no node found in netmap with IP " + canon);
      if (!boolean(*match, "ExitNodeOption")) {
        return Error::invalid("node " + canon + " is not advertising an exit node");
      }
    }
    return canon;
  }
  if (peers.empty()) {
    return Error::invalid(
        "cannot resolve exit node by hostname while Tailscale is starting up; please use its Tailscale IP "
        "address instead");
  }
  std::string suffix = str(status, "MagicDNSSuffix");
  int matches = 0;
  std::string ip;
  for (const auto& [k, ps] : peers.items()) {
    std::string fqdn = str(ps, "DNSName");
    std::string base = ipn::trimDnsSuffix(fqdn, suffix);
    std::string sansDot = ipn::trimDnsSuffix(fqdn, ".");
    std::string a = toLower(arg);
    if (a != toLower(base) && a != toLower(fqdn) && a != toLower(sansDot)) continue;
    ++matches;
    auto ips = strings(ps, "TailscaleIPs");
    if (ips.empty()) return Error::invalid("node " + ipn::goQuote(arg) + " has no Tailscale IP?");
    if (!boolean(ps, "ExitNodeOption")) {
      return Error::invalid("node " + ipn::goQuote(arg) + " is not advertising an exit node");
    }
    ip = ips.front();
  }
  if (matches == 0) {
    return Error::invalid("invalid value " + ipn::goQuote(arg) + " for --exit-node; must be IP or peer hostname");
  }
  if (matches > 1) return Error::invalid("ambiguous exit node name " + ipn::goQuote(arg));
  if (isLocal(ip)) {
    return Error::invalid("cannot use " + arg +
                          " as an exit node as it is a local IP address to this "
                          "machine; did you mean --advertise-exit-node?");
  }
  return ip;
}

Result<OrderedJson> prefsFromUpFlags(const PrefFlags& flags, const Json& status, const Json& curPrefs,
                                     bool reset, const std::string& currentUser) {
  TNET_TRY(auto routes,
           calcAdvertiseRoutes(flags.advertiseRoutes.value_or(""), flags.advertiseExitNode.value_or(false)));
  std::string exitNode = flags.exitNode.value_or("");
  bool allowLan = flags.exitNodeAllowLanAccess.value_or(false);
  if (exitNode.empty() && allowLan) {
    return Error::invalid("--exit-node-allow-lan-access can only be used with --exit-node");
  }
  std::string hostname = flags.hostname.value_or("");
  if (!hostname.empty()) TNET_TRY_VOID(ipn::validHostname(hostname));

  OrderedJson p = defaultPrefs();
  if (!reset && curPrefs.is_object()) {
    // Settings tnet has no flag for: keep what is there rather than silently resetting them.
    for (const char* key :
         {"RunSSH", "RunWebClient", "AdvertiseTags", "NotepadURLs", "AdvertiseServices", "Sync", "NoSNAT",
          "NoStatefulFiltering", "NetfilterMode", "AutoUpdate", "AppConnector", "PostureChecking",
          "NetfilterKind", "RemoteConfig", "DriveShares"}) {
      if (curPrefs.contains(key)) p[key] = curPrefs[key];
    }
  }
  // `up` never changes the profile name (Go keeps curPrefs.ProfileName).
  if (std::string profile = str(curPrefs, "ProfileName"); !profile.empty()) p["ProfileName"] = profile;

  p["ControlURL"] = flags.loginServer ? *flags.loginServer : str(curPrefs, "ControlURL");
  p["WantRunning"] = true;
  p["RouteAll"] = flags.acceptRoutes.value_or(false);
  if (!exitNode.empty()) {
    TNET_TRY(std::string ip, exitNodeIpOfArg(exitNode, status));
    p["ExitNodeIP"] = ip;
  }
  p["ExitNodeAllowLANAccess"] = allowLan;
  p["CorpDNS"] = flags.acceptDns.value_or(true);
  p["ShieldsUp"] = flags.shieldsUp.value_or(false);
  p["AdvertiseRoutes"] = routes.empty() ? OrderedJson(nullptr) : OrderedJson(routes);
  p["Hostname"] = hostname;
  std::string op = flags.operatorUser.value_or("");
  // Go's applyImplicitPrefs: an operator equal to the invoking user survives a bare up.
  if (!reset && !flags.operatorUser && op.empty() && !currentUser.empty() &&
      str(curPrefs, "OperatorUser") == currentUser) {
    op = currentUser;
  }
  if (!op.empty()) {
    // OperatorUser is omitempty in Go; keep the key order by rebuilding around it.
    OrderedJson q = OrderedJson::object();
    for (auto it = p.begin(); it != p.end(); ++it) {
      if (it.key() == "AutoUpdate") q["OperatorUser"] = op;
      q[it.key()] = it.value();
    }
    p = std::move(q);
  }
  if (p.contains("ProfileName")) {
    // Move ProfileName to its Go position (after OperatorUser, before AutoUpdate).
    OrderedJson q = OrderedJson::object();
    std::string profile = p["ProfileName"];
    for (auto it = p.begin(); it != p.end(); ++it) {
      if (it.key() == "ProfileName") continue;
      if (it.key() == "AutoUpdate") q["ProfileName"] = profile;
      q[it.key()] = it.value();
    }
    p = std::move(q);
  }
  return p;
}

Result<OrderedJson> maskedPrefsFromSetFlags(const PrefFlags& flags, const Json& status,
                                            const Json& curPrefs) {
  Json fields = Json::object();
  if (flags.acceptRoutes) fields["RouteAll"] = *flags.acceptRoutes;
  if (flags.acceptDns) fields["CorpDNS"] = *flags.acceptDns;
  if (flags.shieldsUp) fields["ShieldsUp"] = *flags.shieldsUp;
  if (flags.hostname) fields["Hostname"] = *flags.hostname;
  if (flags.operatorUser) fields["OperatorUser"] = *flags.operatorUser;
  if (flags.exitNodeAllowLanAccess) fields["ExitNodeAllowLANAccess"] = *flags.exitNodeAllowLanAccess;
  if (flags.loginServer) fields["ControlURL"] = *flags.loginServer;
  if (flags.exitNode) {
    fields["ExitNodeID"] = "";
    fields["ExitNodeIP"] = "";
    if (!flags.exitNode->empty()) {
      TNET_TRY(std::string ip, exitNodeIpOfArg(*flags.exitNode, status));
      fields["ExitNodeIP"] = ip;
    }
  }
  if (flags.advertiseRoutes || flags.advertiseExitNode) {
    // Go's calcAdvertiseRoutesForSet: each flag changes only its own part of the list.
    std::vector<std::string> cur = strings(curPrefs, "AdvertiseRoutes");
    std::vector<std::string> routes;
    if (flags.advertiseRoutes && flags.advertiseExitNode) {
      TNET_TRY(auto r, calcAdvertiseRoutes(*flags.advertiseRoutes, *flags.advertiseExitNode));
      routes = std::move(r);
    } else if (flags.advertiseRoutes) {
      TNET_TRY(auto r, calcAdvertiseRoutes(*flags.advertiseRoutes, containsExitRoutes(cur)));
      routes = std::move(r);
    } else if (containsExitRoutes(cur) == *flags.advertiseExitNode) {
      routes = cur;
    } else {
      for (const auto& r : cur) {
        if (r != "0.0.0.0/0" && r != "::/0") routes.push_back(r);
      }
      if (*flags.advertiseExitNode) {
        routes.push_back("0.0.0.0/0");
        routes.push_back("::/0");
      }
    }
    fields["AdvertiseRoutes"] = routes.empty() ? Json(nullptr) : Json(routes);
  }
  return orderedMasked(fields, setFieldsOf(flags.givenFlagNames()));
}

Json applyMaskedPrefs(const Json& curPrefs, const OrderedJson& masked) {
  Json out = curPrefs.is_object() ? curPrefs : Json(defaultPrefs());
  for (auto it = masked.begin(); it != masked.end(); ++it) {
    const std::string& k = it.key();
    if (k.size() > 3 && k.compare(k.size() - 3, 3, "Set") == 0 && it.value() == true) {
      std::string field = k.substr(0, k.size() - 3);
      if (masked.contains(field))
        out[field] = Json(masked[field]);
      else
        out[field] = nullptr;
    }
  }
  return out;
}

OrderedJson downMaskedPrefs() {
  OrderedJson mp = OrderedJson::object();
  mp["WantRunning"] = false;
  mp["WantRunningSet"] = true;
  return mp;
}

OrderedJson justEditMaskedPrefs(const OrderedJson& newPrefs, const PrefFlags& flags, bool reset) {
  OrderedJson mp = newPrefs;
  std::vector<std::string> names = flags.givenFlagNames();
  if (reset) {
    names = {"accept-dns",       "accept-routes", "advertise-exit-node",
             "advertise-routes", "exit-node",     "exit-node-allow-lan-access",
             "hostname",         "login-server",  "operator",
             "shields-up"};
  }
  std::vector<std::string> set = setFieldsOf(names);
  set.push_back("WantRunning");
  for (const auto& field : ipn::prefsFields()) {
    const std::string f(field.name);
    if (std::find(set.begin(), set.end(), f) != set.end()) mp[f + "Set"] = true;
  }
  return mp;
}

OrderedJson startOptions(const OrderedJson& prefs, const std::string& authKey) {
  OrderedJson o = OrderedJson::object();
  o["FrontendLogID"] = "";
  o["UpdatePrefs"] = prefs;
  o["AuthKey"] = authKey;
  return o;
}

Result<UpCheck> checkForAccidentalSettingReverts(const OrderedJson& newPrefs, const Json& curPrefs,
                                                 const PrefFlags& flags, bool anyFlagGiven,
                                                 const std::vector<std::string>& explicitFlags,
                                                 const std::string& backendState, const Json& status) {
  UpCheck result;
  // Nothing to protect before a control server was ever chosen.
  if (str(curPrefs, "ControlURL").empty()) return result;

  std::string loginName;
  if (curPrefs.contains("Config") && curPrefs["Config"].is_object()) {
    loginName = str(curPrefs["Config"].value("UserProfile", Json::object()), "LoginName");
  }
  if (!anyFlagGiven && !loginName.empty() && backendState != "NeedsLogin") {
    result.simpleUp = true;
    return result;
  }

  auto given = flags.givenFlagNames();
  auto flagsCur = prefsToFlags(curPrefs, status);
  auto flagsNew = prefsToFlags(Json(newPrefs), status);
  std::vector<std::string> missing;
  for (size_t i = 0; i < flagsCur.size(); ++i) {
    const auto& [name, valCur] = flagsCur[i];
    const auto& valNew = flagsNew[i].second;
    if (std::find(given.begin(), given.end(), name) != given.end()) continue;
    if (valCur == valNew) continue;
    if (name == "login-server" && std::holds_alternative<std::string>(valCur) &&
        isLoginServerSynonym(std::get<std::string>(valCur)) &&
        isLoginServerSynonym(std::get<std::string>(valNew))) {
      continue;
    }
    missing.push_back(fmtFlagValueArg(name, valCur));
  }
  if (missing.empty()) return result;
  std::sort(missing.begin(), missing.end());

  std::string msg =
      "Error: changing settings via 'tnet up' requires mentioning all\n"
      "non-default flags. To proceed, either re-run your command with --reset or\n"
      "use the command below to explicitly mention the current value of\n"
      "all non-default settings:\n\n"
      "\ttnet up";
  for (const auto& a : explicitFlags) msg += " " + a;
  for (const auto& a : missing) msg += " " + a;
  msg += "\n\n";
  return Error::invalid(msg);
}

std::string formatFlagArg(const std::string& name, bool value) {
  return fmtFlagValueArg(name, value);
}
std::string formatFlagArg(const std::string& name, const std::string& value) {
  return fmtFlagValueArg(name, value);
}

Result<std::string> resolveAuthKey(const std::string& authKeyOrFile) {
  if (authKeyOrFile.rfind("file:", 0) != 0) return authKeyOrFile;
  std::string path = authKeyOrFile.substr(5);
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::invalid("open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  auto isSpace = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!key.empty() && isSpace(static_cast<unsigned char>(key.back()))) key.pop_back();
  size_t start = 0;
  while (start < key.size() && isSpace(static_cast<unsigned char>(key[start]))) ++start;
  return key.substr(start);
}

}  // namespace tnet::cli
