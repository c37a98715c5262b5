#include "libs/ipn/prefs.h"

#include <array>

namespace tnet::ipn {

Result<int> parseNetfilterMode(std::string_view s) {
  if (s == "on") return int(NETFILTER_ON);
  if (s == "nodivert") return int(NETFILTER_NO_DIVERT);
  if (s == "off") return int(NETFILTER_OFF);
  return Error::invalid("invalid value passed to ParseNetfilterMode: \"" + std::string(s) + "\"");
}

namespace {

constexpr std::string_view ZERO_PRIVKEY =
    "privkey:0000000000000000000000000000000000000000000000000000000000000000";
constexpr std::string_view ZERO_NLPRIV =
    "nlpriv:00000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000";

Result<void> readStringList(const Json& v, std::optional<std::vector<std::string>>& out,
                            std::string_view typeName, std::string_view field) {
  if (v.is_null()) {
    out.reset();
    return {};
  }
  if (!v.is_array()) return typeError(v, typeName, field, "[]string");
  std::vector<std::string> list;
  for (const auto& e : v) {
    if (!e.is_string()) return typeError(e, typeName, field, "string");
    list.push_back(e.get<std::string>());
  }
  out = std::move(list);
  return {};
}

template <typename T, typename ParseFn>
Result<void> readTextList(const Json& v, std::optional<std::vector<T>>& out, std::string_view typeName,
                          std::string_view field, std::string_view goType, ParseFn parse) {
  if (v.is_null()) {
    out.reset();
    return {};
  }
  if (!v.is_array()) return typeError(v, typeName, field, goType);
  std::vector<T> list;
  for (const auto& e : v) {
    if (!e.is_string()) return typeError(e, typeName, field, goType.substr(2));
    auto parsed = parse(e.get<std::string>());
    if (!parsed) return parsed.error();
    list.push_back(std::move(*parsed));
  }
  out = std::move(list);
  return {};
}

template <typename T>
OrderedJson textList(const std::optional<std::vector<T>>& list) {
  if (!list) return nullptr;
  OrderedJson a = OrderedJson::array();
  for (const auto& e : *list) a.push_back(e.toString());
  return a;
}

OrderedJson stringList(const std::optional<std::vector<std::string>>& list) {
  if (!list) return nullptr;
  return OrderedJson(*list);
}

Result<void> readUserProfile(const Json& v, UserProfile& up) {
  if (v.is_null()) return {};
  if (!v.is_object()) return typeError(v, "Persist", "UserProfile", "tailcfg.UserProfile");
  for (const auto& [k, e] : v.items()) {
    if (keyEqualFold(k, "ID")) {
      TNET_TRY_VOID(readInt64(e, up.id, INT64_MIN, INT64_MAX, "UserProfile", "ID", "tailcfg.UserID"));
    } else if (keyEqualFold(k, "LoginName")) {
      TNET_TRY_VOID(readString(e, up.loginName, "UserProfile", "LoginName"));
    } else if (keyEqualFold(k, "DisplayName")) {
      TNET_TRY_VOID(readString(e, up.displayName, "UserProfile", "DisplayName"));
    } else if (keyEqualFold(k, "ProfilePicURL")) {
      TNET_TRY_VOID(readString(e, up.profilePicUrl, "UserProfile", "ProfilePicURL"));
    } else if (keyEqualFold(k, "Groups")) {
      TNET_TRY_VOID(readStringList(e, up.groups, "UserProfile", "Groups"));
    }
  }
  return {};
}

// Go's "Config" (Persist). Private keys in the input are ignored: ipnd never holds them.
Result<void> readPersist(const Json& v, std::optional<Persist>& out) {
  if (v.is_null()) {
    out.reset();
    return {};
  }
  if (!v.is_object()) return typeError(v, "Prefs", "Config", "persist.Persist");
  Persist p = out.value_or(Persist{});
  for (const auto& [k, e] : v.items()) {
    if (keyEqualFold(k, "UserProfile")) {
      TNET_TRY_VOID(readUserProfile(e, p.userProfile));
    } else if (keyEqualFold(k, "NodeID")) {
      TNET_TRY_VOID(readString(e, p.nodeId, "Persist", "NodeID"));
    } else if (keyEqualFold(k, "DisallowedTKAStateIDs")) {
      std::optional<std::vector<std::string>> ids;
      TNET_TRY_VOID(readStringList(e, ids, "Persist", "DisallowedTKAStateIDs"));
      p.disallowedTkaStateIds = ids.value_or(std::vector<std::string>{});
    }
  }
  out = std::move(p);
  return {};
}

OrderedJson persistToJson(const std::optional<Persist>& p) {
  if (!p) return nullptr;
  OrderedJson o = OrderedJson::object();
  o["PrivateNodeKey"] = ZERO_PRIVKEY;
  o["OldPrivateNodeKey"] = ZERO_PRIVKEY;
  o["UserProfile"] = p->userProfile.toJson();
  o["NetworkLockKey"] = ZERO_NLPRIV;
  o["NodeID"] = p->nodeId;
  if (!p->disallowedTkaStateIds.empty()) o["DisallowedTKAStateIDs"] = p->disallowedTkaStateIds;
  return o;
}

Result<void> readDriveShares(const Json& v, std::optional<std::vector<DriveShare>>& out) {
  if (v.is_null()) {
    out.reset();
    return {};
  }
  if (!v.is_array()) return typeError(v, "Prefs", "DriveShares", "[]*drive.Share");
  std::vector<DriveShare> list;
  for (const auto& e : v) {
    DriveShare s;
    if (!e.is_null()) {
      if (!e.is_object()) return typeError(e, "Prefs", "DriveShares", "drive.Share");
      for (const auto& [k, f] : e.items()) {
        if (keyEqualFold(k, "name")) {
          TNET_TRY_VOID(readString(f, s.name, "Share", "name"));
        } else if (keyEqualFold(k, "path")) {
          TNET_TRY_VOID(readString(f, s.path, "Share", "path"));
        } else if (keyEqualFold(k, "who")) {
          TNET_TRY_VOID(readString(f, s.as, "Share", "who"));
        } else if (keyEqualFold(k, "bookmarkData")) {
          TNET_TRY_VOID(readString(f, s.bookmarkData, "Share", "bookmarkData"));
        }
      }
    }
    list.push_back(std::move(s));
  }
  out = std::move(list);
  return {};
}

OrderedJson driveSharesToJson(const std::optional<std::vector<DriveShare>>& list) {
  if (!list) return nullptr;
  OrderedJson a = OrderedJson::array();
  for (const auto& s : *list) {
    OrderedJson o = OrderedJson::object();
    if (!s.name.empty()) o["name"] = s.name;
    if (!s.path.empty()) o["path"] = s.path;
    if (!s.as.empty()) o["who"] = s.as;
    if (!s.bookmarkData.empty()) o["bookmarkData"] = s.bookmarkData;
    a.push_back(std::move(o));
  }
  return a;
}

Result<void> readAutoUpdate(const Json& v, AutoUpdatePrefs& au, std::string_view) {
  if (v.is_null()) return {};
  if (!v.is_object()) return typeError(v, "Prefs", "AutoUpdate", "ipn.AutoUpdatePrefs");
  for (const auto& [k, e] : v.items()) {
    if (keyEqualFold(k, "Check")) {
      TNET_TRY_VOID(readBool(e, au.check, "AutoUpdatePrefs", "Check"));
    } else if (keyEqualFold(k, "Apply")) {
      TNET_TRY(au.apply, OptBool::fromJson(e, "AutoUpdatePrefs", "Apply"));
    }
  }
  return {};
}

Result<void> readAppConnector(const Json& v, AppConnectorPrefs& ac) {
  if (v.is_null()) return {};
  if (!v.is_object()) return typeError(v, "Prefs", "AppConnector", "ipn.AppConnectorPrefs");
  for (const auto& [k, e] : v.items()) {
    if (keyEqualFold(k, "Advertise")) {
      TNET_TRY_VOID(readBool(e, ac.advertise, "AppConnectorPrefs", "Advertise"));
    }
  }
  return {};
}

#define TNET_BOOL_FIELD(NAME, MEMBER, OMIT)                                                           \
  PrefsField {                                                                                        \
    NAME, [](const Json& v, Prefs& p, std::string_view t) { return readBool(v, p.MEMBER, t, NAME); }, \
        [](OrderedJson& o, const Prefs& p) {                                                          \
          if (!(OMIT) || p.MEMBER) o[NAME] = p.MEMBER;                                                \
        },                                                                                            \
        [](const Prefs& s, Prefs& d) { d.MEMBER = s.MEMBER; }                                         \
  }
#define TNET_STRING_FIELD(NAME, MEMBER, OMIT)                                                           \
  PrefsField {                                                                                          \
    NAME, [](const Json& v, Prefs& p, std::string_view t) { return readString(v, p.MEMBER, t, NAME); }, \
        [](OrderedJson& o, const Prefs& p) {                                                            \
          if (!(OMIT) || !p.MEMBER.empty()) o[NAME] = p.MEMBER;                                         \
        },                                                                                              \
        [](const Prefs& s, Prefs& d) { d.MEMBER = s.MEMBER; }                                           \
  }
#define TNET_OPTBOOL_FIELD(NAME, MEMBER, OMIT)                             \
  PrefsField {                                                             \
    NAME,                                                                  \
        [](const Json& v, Prefs& p, std::string_view t) -> Result<void> {  \
          TNET_TRY(p.MEMBER, OptBool::fromJson(v, t, NAME));               \
          return {};                                                       \
        },                                                                 \
        [](OrderedJson& o, const Prefs& p) {                               \
          if (!(OMIT) || !p.MEMBER.isEmpty()) o[NAME] = p.MEMBER.toJson(); \
        },                                                                 \
        [](const Prefs& s, Prefs& d) { d.MEMBER = s.MEMBER; }              \
  }
#define TNET_COPY(MEMBER) [](const Prefs& s, Prefs& d) { d.MEMBER = s.MEMBER; }

const std::array<PrefsField, 35> FIELDS = {{
    TNET_STRING_FIELD("ControlURL", controlUrl, false),
    TNET_BOOL_FIELD("RouteAll", routeAll, false),
    TNET_STRING_FIELD("ExitNodeID", exitNodeId, false),
    PrefsField{"ExitNodeIP",
               [](const Json& v, Prefs& p, std::string_view t) -> Result<void> {
                 if (v.is_null()) return {};
                 if (!v.is_string()) return typeError(v, t, "ExitNodeIP", "netip.Addr");
                 auto s = v.get<std::string>();
                 if (s.empty()) {
                   p.exitNodeIp.reset();
                   return {};
                 }
                 TNET_TRY(auto ip, parseIpAddr(s));
                 p.exitNodeIp = ip;
                 return {};
               },
               [](OrderedJson& o, const Prefs& p) {
                 o["ExitNodeIP"] = p.exitNodeIp ? p.exitNodeIp->toString() : std::string();
               },
               TNET_COPY(exitNodeIp)},
    TNET_STRING_FIELD("AutoExitNode", autoExitNode, true),
    TNET_STRING_FIELD("InternalExitNodePrior", internalExitNodePrior, false),
    TNET_BOOL_FIELD("ExitNodeAllowLANAccess", exitNodeAllowLanAccess, false),
    TNET_BOOL_FIELD("CorpDNS", corpDns, false),
    TNET_BOOL_FIELD("RunSSH", runSsh, false),
    TNET_BOOL_FIELD("RunWebClient", runWebClient, false),
    TNET_BOOL_FIELD("WantRunning", wantRunning, false),
    TNET_BOOL_FIELD("LoggedOut", loggedOut, false),
    TNET_BOOL_FIELD("ShieldsUp", shieldsUp, false),
    PrefsField{"AdvertiseTags",
               [](const Json& v, Prefs& p, std::string_view t) {
                 return readStringList(v, p.advertiseTags, t, "AdvertiseTags");
               },
               [](OrderedJson& o, const Prefs& p) { o["AdvertiseTags"] = stringList(p.advertiseTags); },
               TNET_COPY(advertiseTags)},
    TNET_STRING_FIELD("Hostname", hostname, false),
    TNET_BOOL_FIELD("NotepadURLs", notepadUrls, false),
    TNET_BOOL_FIELD("ForceDaemon", forceDaemon, true),
    TNET_BOOL_FIELD("Egg", egg, true),
    PrefsField{"AdvertiseRoutes",
               [](const Json& v, Prefs& p, std::string_view t) {
                 return readTextList(v, p.advertiseRoutes, t, "AdvertiseRoutes", "[]netip.Prefix",
                                     parseIpPrefix);
               },
               [](OrderedJson& o, const Prefs& p) { o["AdvertiseRoutes"] = textList(p.advertiseRoutes); },
               TNET_COPY(advertiseRoutes)},
    PrefsField{
        "AdvertiseServices",
        [](const Json& v, Prefs& p, std::string_view t) {
          return readStringList(v, p.advertiseServices, t, "AdvertiseServices");
        },
        [](OrderedJson& o, const Prefs& p) { o["AdvertiseServices"] = stringList(p.advertiseServices); },
        TNET_COPY(advertiseServices)},
    TNET_OPTBOOL_FIELD("Sync", sync, false),
    TNET_BOOL_FIELD("NoSNAT", noSnat, false),
    TNET_OPTBOOL_FIELD("NoStatefulFiltering", noStatefulFiltering, true),
    PrefsField{"NetfilterMode",
               [](const Json& v, Prefs& p, std::string_view t) -> Result<void> {
                 int64_t m = p.netfilterMode;
                 TNET_TRY_VOID(
                     readInt64(v, m, INT32_MIN, INT32_MAX, t, "NetfilterMode", "preftype.NetfilterMode"));
                 p.netfilterMode = int(m);
                 return {};
               },
               [](OrderedJson& o, const Prefs& p) { o["NetfilterMode"] = p.netfilterMode; },
               TNET_COPY(netfilterMode)},
    TNET_STRING_FIELD("OperatorUser", operatorUser, true),
    TNET_STRING_FIELD("ProfileName", profileName, true),
    PrefsField{"AutoUpdate",
               [](const Json& v, Prefs& p, std::string_view t) { return readAutoUpdate(v, p.autoUpdate, t); },
               [](OrderedJson& o, const Prefs& p) {
                 OrderedJson au = OrderedJson::object();
                 au["Check"] = p.autoUpdate.check;
                 au["Apply"] = p.autoUpdate.apply.toJson();
                 o["AutoUpdate"] = std::move(au);
               },
               TNET_COPY(autoUpdate)},
    PrefsField{"AppConnector",
               [](const Json& v, Prefs& p, std::string_view) { return readAppConnector(v, p.appConnector); },
               [](OrderedJson& o, const Prefs& p) {
                 o["AppConnector"] = OrderedJson{{"Advertise", p.appConnector.advertise}};
               },
               TNET_COPY(appConnector)},
    TNET_BOOL_FIELD("PostureChecking", postureChecking, false),
    TNET_STRING_FIELD("NetfilterKind", netfilterKind, false),
    TNET_BOOL_FIELD("RemoteConfig", remoteConfig, false),
    PrefsField{"DriveShares",
               [](const Json& v, Prefs& p, std::string_view) { return readDriveShares(v, p.driveShares); },
               [](OrderedJson& o, const Prefs& p) { o["DriveShares"] = driveSharesToJson(p.driveShares); },
               TNET_COPY(driveShares)},
    PrefsField{"RelayServerPort",
               [](const Json& v, Prefs& p, std::string_view t) -> Result<void> {
                 if (v.is_null()) {
                   p.relayServerPort.reset();
                   return {};
                 }
                 int64_t port = 0;
                 TNET_TRY_VOID(readInt64(v, port, 0, 65535, t, "RelayServerPort", "uint16"));
                 p.relayServerPort = uint16_t(port);
                 return {};
               },
               [](OrderedJson& o, const Prefs& p) {
                 if (p.relayServerPort) o["RelayServerPort"] = *p.relayServerPort;
               },
               TNET_COPY(relayServerPort)},
    PrefsField{"RelayServerStaticEndpoints",
               [](const Json& v, Prefs& p, std::string_view t) {
                 return readTextList(v, p.relayServerStaticEndpoints, t, "RelayServerStaticEndpoints",
                                     "[]netip.AddrPort", parseIpAddrPort);
               },
               [](OrderedJson& o, const Prefs& p) {
                 if (p.relayServerStaticEndpoints && !p.relayServerStaticEndpoints->empty()) {
                   o["RelayServerStaticEndpoints"] = textList(p.relayServerStaticEndpoints);
                 }
               },
               TNET_COPY(relayServerStaticEndpoints)},
    PrefsField{"Config", [](const Json& v, Prefs& p, std::string_view) { return readPersist(v, p.persist); },
               [](OrderedJson& o, const Prefs& p) { o["Config"] = persistToJson(p.persist); },
               TNET_COPY(persist)},
}};

}  // namespace

OrderedJson UserProfile::toJson() const {
  OrderedJson o = OrderedJson::object();
  o["ID"] = id;
  o["LoginName"] = loginName;
  o["DisplayName"] = displayName;
  if (!profilePicUrl.empty()) o["ProfilePicURL"] = profilePicUrl;
  if (groups && !groups->empty()) o["Groups"] = *groups;
  return o;
}

std::string Prefs::controlUrlOrDefault() const {
  if (controlUrl.empty() || controlUrl == "https://login.tailscale.com") {
    return std::string(DEFAULT_CONTROL_URL);
  }
  return controlUrl;
}

bool Prefs::advertisesExitNode() const {
  if (!advertiseRoutes) return false;
  bool v4 = false, v6 = false;
  for (const auto& r : *advertiseRoutes) {
    if (r.bits != 0) continue;
    bool zero = true;
    for (auto b : r.addr.bytes) zero = zero && b == 0;
    if (!zero) continue;
    (r.addr.v6 ? v6 : v4) = true;
  }
  return v4 && v6;
}

bool prefsEqual(const Prefs& a, const Prefs& b) {
  Prefs x = a, y = b;
  x.sync = x.sync.normalized();
  y.sync = y.sync.normalized();
  x.autoUpdate.apply = x.autoUpdate.apply.normalized();
  y.autoUpdate.apply = y.autoUpdate.apply.normalized();
  return x == y;
}

Prefs newPrefs() {
  Prefs p;
  p.corpDns = true;
  p.wantRunning = false;
  p.netfilterMode = NETFILTER_ON;
  p.noStatefulFiltering = OptBool::of(true);
  p.autoUpdate.check = true;
  p.autoUpdate.apply = OptBool::unset();
  p.routeAll = false;  // Go's DefaultRouteAll for linux
  return p;
}

std::span<const PrefsField> prefsFields() {
  return FIELDS;
}

const PrefsField* findPrefsField(std::string_view jsonKey) {
  for (const auto& f : FIELDS) {
    if (f.name == jsonKey) return &f;
  }
  for (const auto& f : FIELDS) {
    if (keyEqualFold(f.name, jsonKey)) return &f;
  }
  return nullptr;
}

OrderedJson prefsToJson(const Prefs& p) {
  OrderedJson o = OrderedJson::object();
  for (const auto& f : FIELDS) f.emit(o, p);
  return o;
}

std::string prefsToString(const Prefs& p, bool indent) {
  return goMarshal(prefsToJson(p), indent);
}

Result<void> prefsFromJson(const Json& v, Prefs& into, std::string_view typeName) {
  if (v.is_null()) return {};
  if (!v.is_object()) {
    return Error::invalid("json: cannot unmarshal " + std::string(goJsonKind(v)) +
                          " into Go value of type ipn." + std::string(typeName));
  }
  for (const auto& [k, e] : v.items()) {
    if (const PrefsField* f = findPrefsField(k)) TNET_TRY_VOID(f->parse(e, into, typeName));
  }
  return {};
}

}  // namespace tnet::ipn
