#include "services/controld/core/hostinfo_parse.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

#include "libs/ipn/opt_bool.h"

namespace tnet::controld {

namespace {

using Json = nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Error fieldError(std::string_view type, std::string_view field, std::string_view what) {
  return Error::invalid(std::string(type) + "." + std::string(field) + ": " + std::string(what));
}

Result<void> getString(const Json& v, std::string& out, std::string_view type, std::string_view field) {
  if (v.is_null()) return {};
  if (!v.is_string()) return fieldError(type, field, "want a string");
  out = v.get<std::string>();
  return {};
}

Result<void> getBool(const Json& v, bool& out, std::string_view type, std::string_view field) {
  if (v.is_null()) return {};
  if (!v.is_boolean()) return fieldError(type, field, "want a bool");
  out = v.get<bool>();
  return {};
}

Result<void> getOpt(const Json& v, ipn::OptBool& out, std::string_view type, std::string_view field) {
  TNET_TRY(out, ipn::OptBool::fromJson(v, type, field));
  return {};
}

Result<void> getStrings(const Json& v, std::vector<std::string>& out, std::string_view type, std::string_view field) {
  if (v.is_null()) return {};
  if (!v.is_array()) return fieldError(type, field, "want an array of strings");
  out.clear();
  for (const auto& e : v) {
    if (!e.is_string()) return fieldError(type, field, "want an array of strings");
    out.push_back(e.get<std::string>());
  }
  return {};
}

Result<NetInfo> netInfoFrom(const Json& j) {
  NetInfo n;
  if (!j.is_object()) return Error::invalid("NetInfo: want an object");
  constexpr std::string_view T = "NetInfo";
  for (const auto& [name, v] : j.items()) {
    std::string k = lower(name);
    if (k == "mappingvariesbydestip") {
      TNET_TRY_VOID(getOpt(v, n.mappingVariesByDestIp, T, name));
    } else if (k == "workingipv6") {
      TNET_TRY_VOID(getOpt(v, n.workingIpv6, T, name));
    } else if (k == "oshasipv6") {
      TNET_TRY_VOID(getOpt(v, n.osHasIpv6, T, name));
    } else if (k == "workingudp") {
      TNET_TRY_VOID(getOpt(v, n.workingUdp, T, name));
    } else if (k == "workingicmpv4") {
      TNET_TRY_VOID(getOpt(v, n.workingIcmpv4, T, name));
    } else if (k == "haveportmap") {
      TNET_TRY_VOID(getBool(v, n.havePortMap, T, name));
    } else if (k == "upnp") {
      TNET_TRY_VOID(getOpt(v, n.upnp, T, name));
    } else if (k == "pmp") {
      TNET_TRY_VOID(getOpt(v, n.pmp, T, name));
    } else if (k == "pcp") {
      TNET_TRY_VOID(getOpt(v, n.pcp, T, name));
    } else if (k == "preferredderp") {
      if (!v.is_number_integer()) return fieldError(T, name, "want an integer");
      n.preferredDerp = v.get<int>();
    } else if (k == "linktype") {
      TNET_TRY_VOID(getString(v, n.linkType, T, name));
    } else if (k == "derplatency") {
      if (v.is_null()) continue;
      if (!v.is_object()) return fieldError(T, name, "want an object");
      for (const auto& [rk, rv] : v.items()) {
        if (!rv.is_number()) return fieldError(T, name, "want numbers");
        n.derpLatency[rk] = rv.get<double>();
      }
    } else if (k == "firewallmode") {
      TNET_TRY_VOID(getString(v, n.firewallMode, T, name));
    }
  }
  return n;
}

Result<Json> parseObject(std::string_view json, std::string_view what) {
  if (json.size() > MAX_HOSTINFO_JSON) return Error::invalid(std::string(what) + " JSON is too large");
  Json j = Json::parse(json, nullptr, false);
  if (j.is_discarded()) return Error::invalid(std::string(what) + " is not valid JSON");
  if (!j.is_object()) return Error::invalid(std::string(what) + ": want an object");
  return j;
}

}  // namespace

Result<NetInfo> netInfoFromJson(std::string_view json) {
  TNET_TRY(Json j, parseObject(json, "NetInfo"));
  return netInfoFrom(j);
}

Result<Hostinfo> hostinfoFromJson(std::string_view json) {
  TNET_TRY(Json j, parseObject(json, "Hostinfo"));
  Hostinfo h;
  h.os.clear();  // only what the JSON says
  constexpr std::string_view T = "Hostinfo";
  for (const auto& [name, v] : j.items()) {
    std::string k = lower(name);
    if (k == "ipnversion") {
      TNET_TRY_VOID(getString(v, h.ipnVersion, T, name));
    } else if (k == "frontendlogid") {
      TNET_TRY_VOID(getString(v, h.frontendLogId, T, name));
    } else if (k == "backendlogid") {
      TNET_TRY_VOID(getString(v, h.backendLogId, T, name));
    } else if (k == "os") {
      TNET_TRY_VOID(getString(v, h.os, T, name));
    } else if (k == "osversion") {
      TNET_TRY_VOID(getString(v, h.osVersion, T, name));
    } else if (k == "container") {
      TNET_TRY_VOID(getOpt(v, h.container, T, name));
    } else if (k == "env") {
      TNET_TRY_VOID(getString(v, h.env, T, name));
    } else if (k == "distro") {
      TNET_TRY_VOID(getString(v, h.distro, T, name));
    } else if (k == "distroversion") {
      TNET_TRY_VOID(getString(v, h.distroVersion, T, name));
    } else if (k == "distrocodename") {
      TNET_TRY_VOID(getString(v, h.distroCodeName, T, name));
    } else if (k == "app") {
      TNET_TRY_VOID(getString(v, h.app, T, name));
    } else if (k == "hostname") {
      TNET_TRY_VOID(getString(v, h.hostname, T, name));
    } else if (k == "shieldsup") {
      TNET_TRY_VOID(getBool(v, h.shieldsUp, T, name));
    } else if (k == "shareenode") {
      TNET_TRY_VOID(getBool(v, h.shareeNode, T, name));
    } else if (k == "nologsnosupport") {
      TNET_TRY_VOID(getBool(v, h.noLogsNoSupport, T, name));
    } else if (k == "ingressenabled") {
      TNET_TRY_VOID(getBool(v, h.ingressEnabled, T, name));
    } else if (k == "machine") {
      TNET_TRY_VOID(getString(v, h.machine, T, name));
    } else if (k == "goarch") {
      TNET_TRY_VOID(getString(v, h.goArch, T, name));
    } else if (k == "routableips") {
      std::vector<std::string> texts;
      TNET_TRY_VOID(getStrings(v, texts, T, name));
      h.routableIps.clear();
      for (const auto& t : texts) {
        auto p = ipn::parseIpPrefix(t);
        if (!p) return fieldError(T, name, p.error().message);
        h.routableIps.push_back(*p);
      }
    } else if (k == "requesttags") {
      TNET_TRY_VOID(getStrings(v, h.requestTags, T, name));
    } else if (k == "services") {
      if (v.is_null()) continue;
      if (!v.is_array()) return fieldError(T, name, "want an array");
      for (const auto& s : v) {
        if (!s.is_object()) return fieldError(T, name, "want objects");
        HostService hs;
        for (const auto& [sn, sv] : s.items()) {
          std::string sk = lower(sn);
          if (sk == "proto") {
            TNET_TRY_VOID(getString(sv, hs.proto, "Service", sn));
          } else if (sk == "port") {
            if (!sv.is_number_unsigned() || sv.get<uint64_t>() > 65535) return fieldError("Service", sn, "want a port");
            hs.port = static_cast<uint16_t>(sv.get<uint64_t>());
          } else if (sk == "description") {
            TNET_TRY_VOID(getString(sv, hs.description, "Service", sn));
          }
        }
        h.services.push_back(std::move(hs));
      }
    } else if (k == "netinfo") {
      if (v.is_null()) continue;
      TNET_TRY(h.netInfo, netInfoFrom(v));
    } else if (k == "sshhostkeys") {
      TNET_TRY_VOID(getStrings(v, h.sshHostKeys, T, name));
    } else if (k == "userspace") {
      TNET_TRY_VOID(getOpt(v, h.userspace, T, name));
    } else if (k == "userspacerouter") {
      TNET_TRY_VOID(getOpt(v, h.userspaceRouter, T, name));
    } else if (k == "exitnodeid") {
      TNET_TRY_VOID(getString(v, h.exitNodeId, T, name));
    }
  }
  return h;
}

}  // namespace tnet::controld
