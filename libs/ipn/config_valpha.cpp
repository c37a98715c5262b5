#include "libs/ipn/config_valpha.h"

namespace tnet::ipn {

namespace {

constexpr std::string_view T = "ConfigVAlpha";

Error configError(const std::string& msg) {
  return Error::invalid("error parsing config file: " + msg);
}

Result<void> readOptString(const Json& v, std::optional<std::string>& out, std::string_view field) {
  if (v.is_null()) {
    out.reset();
    return {};
  }
  if (!v.is_string()) return typeError(v, T, field, "string");
  out = v.get<std::string>();
  return {};
}

Result<void> readOpt(const Json& v, OptBool& out, std::string_view field) {
  TNET_TRY(out, OptBool::fromJson(v, T, field));
  return {};
}

template <typename Item, typename ParseFn>
Result<void> readList(const Json& v, std::optional<std::vector<Item>>& out, std::string_view field,
                      std::string_view goType, ParseFn parse) {
  if (v.is_null()) {
    out.reset();
    return {};
  }
  if (!v.is_array()) return typeError(v, T, field, goType);
  std::vector<Item> items;
  for (const auto& e : v) {
    if (!e.is_string()) return typeError(e, T, field, goType.substr(2));
    TNET_TRY(auto item, parse(e.get<std::string>()));
    items.push_back(std::move(item));
  }
  out = std::move(items);
  return {};
}

Result<std::string> identity(std::string s) {
  return s;
}

// Which keys exist, in Go's declaration order, with their JSON names.
Result<void> readField(const std::string& key, const Json& v, ConfigVAlpha& c) {
  auto is = [&](std::string_view name) { return keyEqualFold(key, name); };
  if (is("Version")) {
    std::string s;
    TNET_TRY_VOID(readString(v, s, T, "Version"));
    c.version = s;
    return {};
  }
  if (is("Locked")) return readOpt(v, c.locked, "Locked");
  if (is("ServerURL")) return readOptString(v, c.serverUrl, "ServerURL");
  if (is("AuthKey")) return readOptString(v, c.authKey, "AuthKey");
  if (is("Enabled")) return readOpt(v, c.enabled, "Enabled");
  if (is("OperatorUser")) return readOptString(v, c.operatorUser, "OperatorUser");
  if (is("Hostname")) return readOptString(v, c.hostname, "Hostname");
  if (is("acceptDNS")) return readOpt(v, c.acceptDns, "acceptDNS");
  if (is("acceptRoutes")) return readOpt(v, c.acceptRoutes, "acceptRoutes");
  if (is("exitNode")) return readOptString(v, c.exitNode, "exitNode");
  if (is("allowLANWhileUsingExitNode")) {
    return readOpt(v, c.allowLanWhileUsingExitNode, "allowLANWhileUsingExitNode");
  }
  if (is("AdvertiseRoutes")) {
    return readList(v, c.advertiseRoutes, "AdvertiseRoutes", "[]netip.Prefix", parseIpPrefix);
  }
  if (is("AdvertiseExitNode")) return readOpt(v, c.advertiseExitNode, "AdvertiseExitNode");
  if (is("DisableSNAT")) return readOpt(v, c.disableSnat, "DisableSNAT");
  if (is("AdvertiseServices")) {
    return readList(v, c.advertiseServices, "AdvertiseServices", "[]string", identity);
  }
  if (is("AppConnector")) {
    if (v.is_null()) {
      c.appConnector.reset();
      return {};
    }
    if (!v.is_object()) return typeError(v, T, "AppConnector", "ipn.AppConnectorPrefs");
    AppConnectorPrefs ac;
    for (const auto& [k, e] : v.items()) {
      if (!keyEqualFold(k, "Advertise")) return Error::invalid("json: unknown field \"" + k + "\"");
      TNET_TRY_VOID(readBool(e, ac.advertise, "AppConnectorPrefs", "Advertise"));
    }
    c.appConnector = ac;
    return {};
  }
  if (is("NetfilterMode")) return readOptString(v, c.netfilterMode, "NetfilterMode");
  if (is("NoStatefulFiltering")) return readOpt(v, c.noStatefulFiltering, "NoStatefulFiltering");
  if (is("PostureChecking")) return readOpt(v, c.postureChecking, "PostureChecking");
  if (is("RunSSHServer")) return readOpt(v, c.runSshServer, "RunSSHServer");
  if (is("RunWebClient")) return readOpt(v, c.runWebClient, "RunWebClient");
  if (is("ShieldsUp")) return readOpt(v, c.shieldsUp, "ShieldsUp");
  if (is("RemoteConfig")) return readOpt(v, c.remoteConfig, "RemoteConfig");
  if (is("AutoUpdate")) {
    if (v.is_null()) {
      c.autoUpdate.reset();
      return {};
    }
    if (!v.is_object()) return typeError(v, T, "AutoUpdate", "ipn.AutoUpdatePrefs");
    AutoUpdatePrefs au;
    for (const auto& [k, e] : v.items()) {
      if (keyEqualFold(k, "Check")) {
        TNET_TRY_VOID(readBool(e, au.check, "AutoUpdatePrefs", "Check"));
      } else if (keyEqualFold(k, "Apply")) {
        TNET_TRY(au.apply, OptBool::fromJson(e, "AutoUpdatePrefs", "Apply"));
      } else {
        return Error::invalid("json: unknown field \"" + k + "\"");
      }
    }
    c.autoUpdate = au;
    return {};
  }
  if (is("ServeConfigTemp")) {
    if (v.is_null()) return {};
    return Error::invalid("ServeConfigTemp is not supported by tailnetd");
  }
  if (is("StaticEndpoints")) {
    return readList(v, c.staticEndpoints, "StaticEndpoints", "[]netip.AddrPort", parseIpAddrPort);
  }
  if (is("RelayServerPort")) {
    if (v.is_null()) {
      c.relayServerPort.reset();
      return {};
    }
    int64_t port = 0;
    TNET_TRY_VOID(readInt64(v, port, 0, 65535, T, "RelayServerPort", "uint16"));
    c.relayServerPort = uint16_t(port);
    return {};
  }
  if (is("RelayServerStaticEndpoints")) {
    return readList(v, c.relayServerStaticEndpoints, "RelayServerStaticEndpoints", "[]netip.AddrPort",
                    parseIpAddrPort);
  }
  return Error::invalid("json: unknown field \"" + key + "\"");
}

bool hasControlChar(std::string_view s) {
  for (unsigned char ch : s) {
    if (ch < 0x20 || ch == 0x7f) return true;
  }
  return false;
}

// tailnetd's checks beyond Go's decoder: values that Go would only reject later (or never),
// rejected up front so a bad file stops `tailnetd --config` with one clear line.
Result<void> validate(const ConfigVAlpha& c) {
  if (c.serverUrl && !c.serverUrl->empty()) {
    const std::string& u = *c.serverUrl;
    size_t hostStart = u.rfind("https://", 0) == 0 ? 8 : u.rfind("http://", 0) == 0 ? 7 : 0;
    if (hostStart == 0 || u.size() == hostStart || u[hostStart] == '/' || hasControlChar(u) ||
        u.find(' ') != std::string::npos) {
      return Error::invalid("ServerURL \"" + u + "\" is not an http:// or https:// URL with a host");
    }
  }
  if (c.authKey) {
    if (c.authKeyIsFile() && c.authKey->size() == 5) {
      return Error::invalid("AuthKey \"file:\" names no file");
    }
    if (hasControlChar(*c.authKey)) return Error::invalid("AuthKey contains control characters");
  }
  if (c.hostname && (hasControlChar(*c.hostname) || c.hostname->size() > 256)) {
    return Error::invalid("Hostname must be at most 256 printable characters");
  }
  if (c.operatorUser && hasControlChar(*c.operatorUser)) {
    return Error::invalid("OperatorUser contains control characters");
  }
  if (c.exitNode && c.exitNode->empty()) {
    return Error::invalid("exitNode is empty; omit it to use no exit node");
  }
  // ToPrefs holds the remaining rules (netfilter mode names, masked routes).
  auto mp = configToMaskedPrefs(c);
  if (!mp) return mp.error();
  return {};
}

}  // namespace

Result<ConfigVAlpha> parseConfigVAlpha(std::string_view bytes) {
  auto doc = parseJson(bytes, /*allowTrailing=*/false, /*allowComments=*/true);
  if (!doc) return configError(doc.error().message);
  const Json& v = *doc;
  if (!v.is_object()) {
    return configError("json: cannot unmarshal " + std::string(goJsonKind(v)) +
                       " into Go value of type ipn.ConfigVAlpha");
  }
  // Go reads "version" first, on its own, to pick the format.
  std::optional<std::string> version;
  for (const auto& [k, e] : v.items()) {
    if (keyEqualFold(k, "version")) {
      if (!e.is_string() && !e.is_null()) {
        return configError("json: cannot unmarshal " + std::string(goJsonKind(e)) +
                           " into Go struct field .version of type string");
      }
      version = e.is_string() ? e.get<std::string>() : std::string();
    }
  }
  if (!version || version->empty()) return configError("no \"version\" field defined");
  if (*version != "alpha0") {
    return configError("unsupported \"version\" value \"" + *version + "\"; want \"alpha0\" for now");
  }
  ConfigVAlpha c;
  for (const auto& [k, e] : v.items()) {
    auto r = readField(k, e, c);
    if (!r) return configError(r.error().message);
  }
  auto ok = validate(c);
  if (!ok) return configError(ok.error().message);
  return c;
}

std::string configVAlphaToString(const ConfigVAlpha& c) {
  OrderedJson o = OrderedJson::object();
  auto opt = [&](std::string_view name, const OptBool& b) {
    if (!b.isEmpty()) o[std::string(name)] = b.toJson();
  };
  auto str = [&](std::string_view name, const std::optional<std::string>& s) {
    if (s) o[std::string(name)] = *s;
  };
  auto textList = [&](std::string_view name, const auto& list) {
    if (list && !list->empty()) {
      OrderedJson a = OrderedJson::array();
      for (const auto& e : *list) a.push_back(e.toString());
      o[std::string(name)] = std::move(a);
    }
  };
  o["Version"] = c.version;
  opt("Locked", c.locked);
  str("ServerURL", c.serverUrl);
  str("AuthKey", c.authKey);
  opt("Enabled", c.enabled);
  str("OperatorUser", c.operatorUser);
  str("Hostname", c.hostname);
  opt("acceptDNS", c.acceptDns);
  opt("acceptRoutes", c.acceptRoutes);
  str("exitNode", c.exitNode);
  opt("allowLANWhileUsingExitNode", c.allowLanWhileUsingExitNode);
  textList("AdvertiseRoutes", c.advertiseRoutes);
  opt("AdvertiseExitNode", c.advertiseExitNode);
  opt("DisableSNAT", c.disableSnat);
  if (c.advertiseServices && !c.advertiseServices->empty()) o["AdvertiseServices"] = *c.advertiseServices;
  if (c.appConnector) o["AppConnector"] = OrderedJson{{"Advertise", c.appConnector->advertise}};
  str("NetfilterMode", c.netfilterMode);
  opt("NoStatefulFiltering", c.noStatefulFiltering);
  opt("PostureChecking", c.postureChecking);
  opt("RunSSHServer", c.runSshServer);
  opt("RunWebClient", c.runWebClient);
  opt("ShieldsUp", c.shieldsUp);
  opt("RemoteConfig", c.remoteConfig);
  if (c.autoUpdate) {
    o["AutoUpdate"] = OrderedJson{{"Check", c.autoUpdate->check}, {"Apply", c.autoUpdate->apply.toJson()}};
  }
  textList("StaticEndpoints", c.staticEndpoints);
  if (c.relayServerPort) o["RelayServerPort"] = *c.relayServerPort;
  textList("RelayServerStaticEndpoints", c.relayServerStaticEndpoints);
  return goMarshal(o);
}

Result<MaskedPrefs> configToMaskedPrefs(const ConfigVAlpha& c) {
  MaskedPrefs mp;
  Prefs& p = mp.prefs;
  p.wantRunning = !c.enabled.equalBool(false);
  if (p.wantRunning || !c.enabled.isEmpty()) mp.mark("WantRunning");
  if (c.serverUrl) {
    p.controlUrl = *c.serverUrl;
    mp.mark("ControlURL");
  }
  if (c.authKey && !c.authKey->empty()) {
    p.loggedOut = false;
    mp.mark("LoggedOut");
  }
  if (c.operatorUser) {
    p.operatorUser = *c.operatorUser;
    mp.mark("OperatorUser");
  }
  if (c.hostname) {
    p.hostname = *c.hostname;
    mp.mark("Hostname");
  }
  if (!c.acceptDns.isEmpty()) {
    p.corpDns = c.acceptDns.equalBool(true);
    mp.mark("CorpDNS");
  }
  if (!c.acceptRoutes.isEmpty()) {
    p.routeAll = c.acceptRoutes.equalBool(true);
    mp.mark("RouteAll");
  }
  if (c.exitNode) {
    if (auto ip = parseIpAddr(*c.exitNode)) {
      p.exitNodeIp = *ip;
      mp.mark("ExitNodeIP");
    } else {
      p.exitNodeId = *c.exitNode;
      mp.mark("ExitNodeID");
    }
  }
  if (!c.allowLanWhileUsingExitNode.isEmpty()) {
    p.exitNodeAllowLanAccess = c.allowLanWhileUsingExitNode.equalBool(true);
    mp.mark("ExitNodeAllowLANAccess");
  }
  if (c.advertiseRoutes) {
    std::string errs;
    for (const auto& r : *c.advertiseRoutes) {
      if (!r.isMasked()) {
        if (!errs.empty()) errs += "\n";
        errs += "route " + r.toString() + " has non-address bits set; expected " + r.masked().toString();
      }
    }
    if (!errs.empty()) return Error::invalid(errs);
    p.advertiseRoutes = *c.advertiseRoutes;
    mp.mark("AdvertiseRoutes");
  }
  if (c.advertiseExitNode.equalBool(true)) {
    IpPrefix all4{IpAddr{}, 0};
    IpPrefix all6{IpAddr{}, 0};
    all6.addr.v6 = true;
    if (mp.isSet("AdvertiseRoutes")) {
      p.advertiseRoutes->push_back(all4);
      p.advertiseRoutes->push_back(all6);
    } else {
      p.advertiseRoutes = std::vector<IpPrefix>{all4, all6};
      mp.mark("AdvertiseRoutes");
    }
  }
  if (!c.disableSnat.isEmpty()) {
    p.noSnat = c.disableSnat.equalBool(true);
    mp.mark("NoSNAT");
  }
  if (!c.noStatefulFiltering.isEmpty()) {
    p.noStatefulFiltering = c.noStatefulFiltering;
    mp.mark("NoStatefulFiltering");
  }
  if (c.netfilterMode) {
    TNET_TRY(p.netfilterMode, parseNetfilterMode(*c.netfilterMode));
    mp.mark("NetfilterMode");
  }
  auto flag = [&](const OptBool& b, bool& target, std::string_view field) {
    if (!b.isEmpty()) {
      target = b.equalBool(true);
      mp.mark(field);
    }
  };
  flag(c.postureChecking, p.postureChecking, "PostureChecking");
  flag(c.runSshServer, p.runSsh, "RunSSH");
  flag(c.runWebClient, p.runWebClient, "RunWebClient");
  flag(c.shieldsUp, p.shieldsUp, "ShieldsUp");
  flag(c.remoteConfig, p.remoteConfig, "RemoteConfig");
  if (c.autoUpdate) {
    p.autoUpdate = *c.autoUpdate;
    mp.autoUpdateCheckSet = true;
    mp.autoUpdateApplySet = true;
  }
  if (c.appConnector) {
    p.appConnector = *c.appConnector;
    mp.mark("AppConnector");
  }
  // The config file is the source of truth for these, even when absent (Go's comment).
  mp.mark("AdvertiseServices");
  if (c.advertiseServices) p.advertiseServices = *c.advertiseServices;
  mp.mark("RelayServerPort");
  mp.mark("RelayServerStaticEndpoints");
  if (c.relayServerPort) p.relayServerPort = *c.relayServerPort;
  if (c.relayServerStaticEndpoints) p.relayServerStaticEndpoints = *c.relayServerStaticEndpoints;
  return mp;
}

}  // namespace tnet::ipn
