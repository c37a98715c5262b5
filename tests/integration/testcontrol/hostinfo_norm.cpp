#include "tests/integration/testcontrol/hostinfo_norm.h"

#include <map>
#include <optional>

#include "libs/ipn/netip.h"
#include "libs/ipn/opt_bool.h"

namespace tnet::testcontrol {
namespace {

using ipn::Json;
using ipn::OrderedJson;

enum class Kind {
  STRING,
  BOOL,
  OPT_BOOL,
  INT,
  UINT64,
  FLOAT,
  PREFIXES,
  STRINGS,
  SERVICES,
  NET_INFO,
  LATENCY,
  LOCATION,
  TPM
};

struct Field {
  const char* name;
  Kind kind;
};

// tailcfg.Hostinfo in declaration order (all fields are omitzero/omitempty).
constexpr Field HOSTINFO_FIELDS[] = {
    {"IPNVersion", Kind::STRING},
    {"FrontendLogID", Kind::STRING},
    {"BackendLogID", Kind::STRING},
    {"OS", Kind::STRING},
    {"OSVersion", Kind::STRING},
    {"Container", Kind::OPT_BOOL},
    {"Env", Kind::STRING},
    {"Distro", Kind::STRING},
    {"DistroVersion", Kind::STRING},
    {"DistroCodeName", Kind::STRING},
    {"App", Kind::STRING},
    {"Desktop", Kind::OPT_BOOL},
    {"Package", Kind::STRING},
    {"DeviceModel", Kind::STRING},
    {"PushDeviceToken", Kind::STRING},
    {"Hostname", Kind::STRING},
    {"ShieldsUp", Kind::BOOL},
    {"ShareeNode", Kind::BOOL},
    {"NoLogsNoSupport", Kind::BOOL},
    {"RemoteConfig", Kind::BOOL},
    {"WireIngress", Kind::BOOL},
    {"IngressEnabled", Kind::BOOL},
    {"AllowsUpdate", Kind::BOOL},
    {"Machine", Kind::STRING},
    {"GoArch", Kind::STRING},
    {"GoArchVar", Kind::STRING},
    {"GoVersion", Kind::STRING},
    {"RoutableIPs", Kind::PREFIXES},
    {"RequestTags", Kind::STRINGS},
    {"WoLMACs", Kind::STRINGS},
    {"Services", Kind::SERVICES},
    {"NetInfo", Kind::NET_INFO},
    {"sshHostKeys", Kind::STRINGS},
    {"Cloud", Kind::STRING},
    {"Userspace", Kind::OPT_BOOL},
    {"UserspaceRouter", Kind::OPT_BOOL},
    {"AppConnector", Kind::OPT_BOOL},
    {"ServicesHash", Kind::STRING},
    {"PeerRelay", Kind::BOOL},
    {"ExitNodeID", Kind::STRING},
    {"Location", Kind::LOCATION},
    {"TPM", Kind::TPM},
    {"StateEncrypted", Kind::OPT_BOOL},
};

// tailcfg.NetInfo in declaration order.
constexpr Field NET_INFO_FIELDS[] = {
    {"MappingVariesByDestIP", Kind::OPT_BOOL},
    {"WorkingIPv6", Kind::OPT_BOOL},
    {"OSHasIPv6", Kind::OPT_BOOL},
    {"WorkingUDP", Kind::OPT_BOOL},
    {"WorkingICMPv4", Kind::OPT_BOOL},
    {"HavePortMap", Kind::BOOL},
    {"UPnP", Kind::OPT_BOOL},
    {"PMP", Kind::OPT_BOOL},
    {"PCP", Kind::OPT_BOOL},
    {"PreferredDERP", Kind::INT},
    {"LinkType", Kind::STRING},
    {"DERPLatency", Kind::LATENCY},
    {"FirewallMode", Kind::STRING},
};

// tailcfg.Location (all omitempty).
constexpr Field LOCATION_FIELDS[] = {
    {"Country", Kind::STRING},  {"CountryCode", Kind::STRING}, {"City", Kind::STRING},
    {"CityCode", Kind::STRING}, {"Latitude", Kind::FLOAT},     {"Longitude", Kind::FLOAT},
    {"Priority", Kind::INT},
};

// tailcfg.TPMInfo (all omitzero).
constexpr Field TPM_FIELDS[] = {
    {"Manufacturer", Kind::STRING},    {"Vendor", Kind::STRING},    {"Model", Kind::INT},
    {"FirmwareVersion", Kind::UINT64}, {"SpecRevision", Kind::INT}, {"FamilyIndicator", Kind::STRING},
};

constexpr int64_t MAX_INT32 = 2147483647;

Result<OrderedJson> normalizeObject(const Json& v, std::string_view typeName, const Field* fields,
                                    size_t count);

// A re-encoded field value; nullopt when Go would omit the field.
using Present = std::optional<OrderedJson>;

// Decodes one field and returns its re-encoded value.
Result<Present> normalizeValue(const Json& v, const Field& f, std::string_view typeName) {
  switch (f.kind) {
    case Kind::STRING: {
      std::string s;
      TNET_TRY_VOID(ipn::readString(v, s, typeName, f.name));
      if (s.empty()) return Present();
      return Present(OrderedJson(s));
    }
    case Kind::BOOL: {
      bool b = false;
      TNET_TRY_VOID(ipn::readBool(v, b, typeName, f.name));
      if (!b) return Present();
      return Present(OrderedJson(true));
    }
    case Kind::OPT_BOOL: {
      // omitzero omits only "": a decoded null is "unset", which Go writes back as null.
      TNET_TRY(ipn::OptBool o, ipn::OptBool::fromJson(v, typeName, f.name));
      return Present(o.toJson());
    }
    case Kind::INT: {
      int64_t n = 0;
      TNET_TRY_VOID(ipn::readInt64(v, n, -MAX_INT32 - 1, MAX_INT32, typeName, f.name, "int"));
      if (n == 0) return Present();
      return Present(OrderedJson(n));
    }
    case Kind::UINT64: {
      if (v.is_null()) return Present();
      if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
        return ipn::typeError(v, typeName, f.name, "uint64");
      }
      uint64_t n = v.get<uint64_t>();
      if (n == 0) return Present();
      return Present(OrderedJson(n));
    }
    case Kind::FLOAT: {
      if (v.is_null()) return Present();
      if (!v.is_number()) return ipn::typeError(v, typeName, f.name, "float64");
      double d = v.get<double>();
      if (d == 0) return Present();
      return Present(OrderedJson(d));
    }
    case Kind::PREFIXES:
    case Kind::STRINGS: {
      if (v.is_null()) return Present();
      if (!v.is_array()) return ipn::typeError(v, typeName, f.name, "[]string");
      OrderedJson out = OrderedJson::array();
      for (const Json& e : v) {
        if (!e.is_string()) return ipn::typeError(e, typeName, f.name, "string");
        if (f.kind == Kind::PREFIXES) {
          TNET_TRY(ipn::IpPrefix p, ipn::parseIpPrefix(e.get<std::string>()));
          out.push_back(p.toString());
        } else {
          out.push_back(e.get<std::string>());
        }
      }
      if (out.empty()) return Present();
      return Present(std::move(out));
    }
    case Kind::SERVICES: {
      if (v.is_null()) return Present();
      if (!v.is_array()) return ipn::typeError(v, typeName, f.name, "[]tailcfg.Service");
      OrderedJson out = OrderedJson::array();
      for (const Json& e : v) {
        if (!e.is_null() && !e.is_object()) return ipn::typeError(e, typeName, f.name, "tailcfg.Service");
        std::string proto, description;
        int64_t port = 0;
        if (e.is_object()) {
          if (const Json* p = goField(e, "Proto"))
            TNET_TRY_VOID(ipn::readString(*p, proto, "Service", "Proto"));
          if (const Json* p = goField(e, "Port")) {
            TNET_TRY_VOID(ipn::readInt64(*p, port, 0, 65535, "Service", "Port", "uint16"));
          }
          if (const Json* p = goField(e, "Description")) {
            TNET_TRY_VOID(ipn::readString(*p, description, "Service", "Description"));
          }
        }
        OrderedJson s = {{"Proto", proto}, {"Port", port}};
        if (!description.empty()) s["Description"] = description;
        out.push_back(std::move(s));
      }
      if (out.empty()) return Present();
      return Present(std::move(out));
    }
    case Kind::NET_INFO: {
      if (v.is_null()) return Present();
      if (!v.is_object()) return ipn::typeError(v, typeName, f.name, "tailcfg.NetInfo");
      // A non-nil *NetInfo is written even when all its fields are zero ({}).
      TNET_TRY(OrderedJson ni, normalizeObject(v, "NetInfo", NET_INFO_FIELDS, std::size(NET_INFO_FIELDS)));
      return Present(std::move(ni));
    }
    case Kind::LATENCY: {
      if (v.is_null()) return Present();
      if (!v.is_object()) return ipn::typeError(v, typeName, f.name, "map[string]float64");
      std::map<std::string, double> sorted;  // Go writes map keys sorted
      for (const auto& [k, x] : v.items()) {
        if (!x.is_number()) return ipn::typeError(x, typeName, f.name, "float64");
        sorted[k] = x.get<double>();
      }
      if (sorted.empty()) return Present();
      OrderedJson out = OrderedJson::object();
      for (const auto& [k, x] : sorted) out[k] = x;
      return Present(std::move(out));
    }
    case Kind::LOCATION:
    case Kind::TPM: {
      // Known flat fields only: a client's nesting never reaches our encoder.
      bool loc = f.kind == Kind::LOCATION;
      if (v.is_null()) return Present();
      if (!v.is_object())
        return ipn::typeError(v, typeName, f.name, loc ? "tailcfg.Location" : "tailcfg.TPMInfo");
      TNET_TRY(OrderedJson o,
               loc ? normalizeObject(v, "Location", LOCATION_FIELDS, std::size(LOCATION_FIELDS))
                   : normalizeObject(v, "TPMInfo", TPM_FIELDS, std::size(TPM_FIELDS)));
      return Present(std::move(o));
    }
  }
  return Present();
}

Result<OrderedJson> normalizeObject(const Json& v, std::string_view typeName, const Field* fields,
                                    size_t count) {
  OrderedJson out = OrderedJson::object();
  for (size_t i = 0; i < count; ++i) {
    const Json* member = goField(v, fields[i].name);
    if (member == nullptr) continue;
    TNET_TRY(Present value, normalizeValue(*member, fields[i], typeName));
    if (value) out[fields[i].name] = std::move(*value);
  }
  return out;
}

}  // namespace

const Json* goField(const Json& object, std::string_view name) {
  if (!object.is_object()) return nullptr;
  auto exact = object.find(std::string(name));
  if (exact != object.end()) return &*exact;
  const Json* found = nullptr;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (ipn::keyEqualFold(it.key(), name)) found = &it.value();
  }
  return found;
}

Result<StoredHostinfo> normalizeHostinfo(const Json& v) {
  if (!v.is_object()) return ipn::typeError(v, "RegisterRequest", "Hostinfo", "tailcfg.Hostinfo");
  TNET_TRY(OrderedJson out, normalizeObject(v, "Hostinfo", HOSTINFO_FIELDS, std::size(HOSTINFO_FIELDS)));
  StoredHostinfo h;
  if (auto it = out.find("Hostname"); it != out.end()) h.hostname = it->get<std::string>();
  if (auto ni = out.find("NetInfo"); ni != out.end()) {
    if (auto d = ni->find("PreferredDERP"); d != ni->end()) h.preferredDerp = int(d->get<int64_t>());
  }
  h.json = ipn::goMarshal(out);
  return h;
}

}  // namespace tnet::testcontrol
