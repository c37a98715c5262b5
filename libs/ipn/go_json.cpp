#include "libs/ipn/go_json.h"

#include <cmath>

namespace tnet::ipn {

std::string goMarshal(const OrderedJson& value, bool indent) {
  std::string raw = indent ? value.dump(1, '\t', false, OrderedJson::error_handler_t::replace)
                           : value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
  // These three characters only occur inside strings in JSON text, so escaping them in the
  // whole document is exactly Go's HTMLEscape. U+2028/U+2029 are escaped by Go too.
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xe2' && i + 2 < raw.size() && raw[i + 1] == '\x80' &&
               (raw[i + 2] == '\xa8' || raw[i + 2] == '\xa9')) {
      out += raw[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

Result<Json> parseJson(std::string_view text, bool allowTrailing, bool allowComments) {
  // sax_parse with strict=false stops after the first complete value, which is what Go's
  // json.Decoder.Decode does; strict=true also rejects anything but whitespace after it.
  // nlohmann's lexer treats a NUL byte as the end of input; raw NUL is never valid JSON, so
  // reject it rather than silently ignore what follows (a torn file often ends in zeros).
  if (auto nul = text.find('\0'); nul != std::string_view::npos && !allowTrailing) {
    return Error::invalid("invalid JSON: NUL byte at offset " + std::to_string(nul));
  }
  Json result;
  try {
    nlohmann::detail::json_sax_dom_parser<Json> sdp(result, true);
    bool ok = Json::sax_parse(text.begin(), text.end(), &sdp, nlohmann::detail::input_format_t::json,
                              !allowTrailing, allowComments);
    if (!ok || result.is_discarded()) return Error::invalid("invalid JSON");
  } catch (const Json::exception& e) {
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.parse_error.101] "; keep only the explanation.
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return Error::invalid("invalid JSON: " + what);
  }
  return result;
}

bool keyEqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view goJsonKind(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "bool";
    case Json::value_t::string:
      return "string";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    default:
      return "value";
  }
}

Error typeError(const Json& v, std::string_view typeName, std::string_view field, std::string_view goType) {
  return Error::invalid("json: cannot unmarshal " + std::string(goJsonKind(v)) + " into Go struct field " +
                        std::string(typeName) + "." + std::string(field) + " of type " + std::string(goType));
}

Result<void> readBool(const Json& v, bool& out, std::string_view typeName, std::string_view field) {
  if (v.is_null()) return {};
  if (!v.is_boolean()) return typeError(v, typeName, field, "bool");
  out = v.get<bool>();
  return {};
}

Result<void> readString(const Json& v, std::string& out, std::string_view typeName, std::string_view field) {
  if (v.is_null()) return {};
  if (!v.is_string()) return typeError(v, typeName, field, "string");
  out = v.get<std::string>();
  return {};
}

Result<void> readInt64(const Json& v, int64_t& out, int64_t min, int64_t max, std::string_view typeName,
                       std::string_view field, std::string_view goType) {
  if (v.is_null()) return {};
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    int64_t x = v.get<int64_t>();
    if (x < min || x > max) return typeError(v, typeName, field, goType);
    out = x;
    return {};
  }
  if (v.is_number_unsigned()) {
    uint64_t x = v.get<uint64_t>();
    if (x > uint64_t(max)) return typeError(v, typeName, field, goType);
    out = int64_t(x);
    return {};
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    // Go accepts 1e3 or 2.0 for an int only if it is integral; it rejects 1.5.
    if (std::floor(d) == d && d >= double(min) && d <= double(max)) {
      out = int64_t(d);
      return {};
    }
  }
  return typeError(v, typeName, field, goType);
}

}  // namespace tnet::ipn
