#include "tests/integration/testcontrol/filter_rules.h"

#include <string>

#include "libs/ipn/netip.h"
#include "tests/integration/testcontrol/hostinfo_norm.h"
#include "tests/integration/testcontrol/server_requests.h"

namespace tnet::testcontrol {
namespace {

using ipn::Json;
using ipn::OrderedJson;

Error at(const std::string& where, std::string_view what) {
  return Error::invalid(where + ": " + std::string(what));
}

// Go's wgengine/filter parseIPSet forms: "*", a CIDR, "a-b" (one hyphen, same family, a <= b) or
// one IP. Zones are never valid in a filter. "cap:<name>" is allowed in SrcIPs only.
Result<void> checkAddressSet(const std::string& s, bool allowCap, const std::string& where) {
  auto bad = [&](std::string_view why) {
    return at(where, "\"" + s + "\" is not \"*\", an IP, a CIDR or an IP range (" + std::string(why) + ")");
  };
  if (s == "*") return {};
  if (s.rfind("cap:", 0) == 0) {
    if (!allowCap) return bad("capabilities are only valid in SrcIPs");
    if (s.size() == 4) return bad("empty capability name");
    return {};
  }
  if (s.find('/') != std::string::npos) {
    auto p = ipn::parseIpPrefix(s);
    if (!p) return bad(p.error().message);
    return {};
  }
  if (auto dash = s.find('-'); dash != std::string::npos) {
    if (s.find('-', dash + 1) != std::string::npos) return bad("more than one '-'");
    auto lo = ipn::parseIpAddr(s.substr(0, dash));
    auto hi = ipn::parseIpAddr(s.substr(dash + 1));
    if (!lo) return bad(lo.error().message);
    if (!hi) return bad(hi.error().message);
    if (!lo->zone.empty() || !hi->zone.empty()) return bad("zones are not allowed");
    if (lo->v6 != hi->v6) return bad("range ends of different families");
    if (hi->bytes < lo->bytes) return bad("range end before its start");
    return {};
  }
  auto ip = ipn::parseIpAddr(s);
  if (!ip) return bad(ip.error().message);
  if (!ip->zone.empty()) return bad("zones are not allowed");
  return {};
}

// A JSON array field (null or absent = nullptr, as Go leaves a nil slice).
Result<const Json*> arrayField(const Json& obj, const char* name, std::string_view typeName,
                               std::string_view goType) {
  const Json* v = goField(obj, name);
  if (v == nullptr || v->is_null()) return static_cast<const Json*>(nullptr);
  if (!v->is_array()) return ipn::typeError(*v, typeName, name, goType);
  return v;
}

Result<OrderedJson> intList(const Json& list, int64_t min, int64_t max, std::string_view typeName,
                            const char* field, const std::string& where) {
  OrderedJson out = OrderedJson::array();
  for (size_t i = 0; i < list.size(); ++i) {
    int64_t n = 0;
    if (list[i].is_null()) return at(where + "[" + std::to_string(i) + "]", "null is not a number");
    TNET_TRY_VOID(ipn::readInt64(list[i], n, INT64_MIN, INT64_MAX, typeName, field, "int"));
    if (n < min || n > max) {
      return at(where + "[" + std::to_string(i) + "]",
                std::to_string(n) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
    }
    out.push_back(n);
  }
  return out;
}

Result<OrderedJson> netPortRange(const Json& v, const std::string& where) {
  constexpr std::string_view T = "NetPortRange";
  if (!v.is_object()) return ipn::typeError(v, "FilterRule", "DstPorts", "tailcfg.NetPortRange");
  OrderedJson out = OrderedJson::object();
  std::string ip;
  if (const Json* f = goField(v, "IP")) TNET_TRY_VOID(ipn::readString(*f, ip, T, "IP"));
  if (ip.empty()) return at(where + ".IP", "required (\"*\", an IP, a CIDR or an IP range)");
  TNET_TRY_VOID(checkAddressSet(ip, false, where + ".IP"));
  out["IP"] = ip;
  if (const Json* f = goField(v, "Bits"); f != nullptr && !f->is_null()) {
    int64_t bits = 0;
    TNET_TRY_VOID(ipn::readInt64(*f, bits, INT64_MIN, INT64_MAX, T, "Bits", "int"));
    if (bits < 0 || bits > 128) return at(where + ".Bits", std::to_string(bits) + " is outside 0..128");
    out["Bits"] = bits;
  }
  int64_t first = 0, last = 0;
  if (const Json* p = goField(v, "Ports"); p != nullptr && !p->is_null()) {
    if (!p->is_object()) return ipn::typeError(*p, T, "Ports", "tailcfg.PortRange");
    if (const Json* f = goField(*p, "First"))
      TNET_TRY_VOID(ipn::readInt64(*f, first, 0, 65535, "PortRange", "First", "uint16"));
    if (const Json* f = goField(*p, "Last"))
      TNET_TRY_VOID(ipn::readInt64(*f, last, 0, 65535, "PortRange", "Last", "uint16"));
  }
  if (first > last) {
    return at(where + ".Ports", "First " + std::to_string(first) + " is after Last " + std::to_string(last));
  }
  out["Ports"] = {{"First", first}, {"Last", last}};
  return out;
}

Result<OrderedJson> filterRule(const Json& v, const std::string& where) {
  constexpr std::string_view T = "FilterRule";
  if (!v.is_object())
    return at(where, "expected a FilterRule object, got " + std::string(ipn::goJsonKind(v)));
  OrderedJson out = OrderedJson::object();

  TNET_TRY(const Json* src, arrayField(v, "SrcIPs", T, "[]string"));
  if (src == nullptr || src->empty())
    return at(where + ".SrcIPs", "required (a rule without sources allows nothing)");
  OrderedJson srcOut = OrderedJson::array();
  for (size_t i = 0; i < src->size(); ++i) {
    std::string s;
    if (!(*src)[i].is_string()) return ipn::typeError((*src)[i], T, "SrcIPs", "string");
    TNET_TRY_VOID(ipn::readString((*src)[i], s, T, "SrcIPs"));
    TNET_TRY_VOID(checkAddressSet(s, true, where + ".SrcIPs[" + std::to_string(i) + "]"));
    srcOut.push_back(std::move(s));
  }
  out["SrcIPs"] = std::move(srcOut);

  TNET_TRY(const Json* bits, arrayField(v, "SrcBits", T, "[]int"));
  if (bits != nullptr && !bits->empty()) {
    TNET_TRY(out["SrcBits"], intList(*bits, 0, 128, T, "SrcBits", where + ".SrcBits"));
  }

  TNET_TRY(const Json* dst, arrayField(v, "DstPorts", T, "[]tailcfg.NetPortRange"));
  if (dst != nullptr && !dst->empty()) {
    OrderedJson dstOut = OrderedJson::array();
    for (size_t i = 0; i < dst->size(); ++i) {
      TNET_TRY(OrderedJson r, netPortRange((*dst)[i], where + ".DstPorts[" + std::to_string(i) + "]"));
      dstOut.push_back(std::move(r));
    }
    out["DstPorts"] = std::move(dstOut);
  }

  TNET_TRY(const Json* proto, arrayField(v, "IPProto", T, "[]int"));
  if (proto != nullptr && !proto->empty()) {
    TNET_TRY(out["IPProto"], intList(*proto, 0, 255, T, "IPProto", where + ".IPProto"));
  }

  if (const Json* cap = goField(v, "CapGrant"); cap != nullptr && !cap->is_null()) {
    if (!cap->is_array()) return ipn::typeError(*cap, T, "CapGrant", "[]tailcfg.CapGrant");
    if (!cap->empty()) return at(where + ".CapGrant", "not supported by testcontrol");
  }
  if (!out.contains("DstPorts"))
    return at(where + ".DstPorts", "required (a rule without destinations allows nothing)");
  return out;
}

}  // namespace

Result<OrderedJson> parseFilterRules(std::string_view body) {
  if (body.size() >= MAX_REQUEST_BODY) return Error::invalid("filter body too long (limit 1 MiB)");
  TNET_TRY(Json j, ipn::parseJson(body));
  if (!j.is_array()) {
    return Error::invalid("expected a JSON array of FilterRule, got " + std::string(ipn::goJsonKind(j)) +
                          " (DELETE /admin/filter restores allow-all)");
  }
  OrderedJson rules = OrderedJson::array();
  for (size_t i = 0; i < j.size(); ++i) {
    TNET_TRY(OrderedJson r, filterRule(j[i], "FilterRule[" + std::to_string(i) + "]"));
    rules.push_back(std::move(r));
  }
  return rules;
}

}  // namespace tnet::testcontrol
