#include "libs/ipn/go_json.h"

#include <cmath>
#include <cstdio>

namespace tnet::ipn {

void appendGoJsonString(std::string& out, std::string_view s) {
  static constexpr char HEX[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = uint8_t(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '<':
        case '>':
        case '&':
          out += "\\u00";
          out.push_back(HEX[c >> 4]);
          out.push_back(HEX[c & 0xf]);
          break;
        default:
          if (c < 0x20) {
            out += "\\u00";
            out.push_back(HEX[c >> 4]);
            out.push_back(HEX[c & 0xf]);
          } else {
            out.push_back(char(c));
          }
      }
      ++i;
      continue;
    }
    // Decode one UTF-8 sequence strictly (no overlongs, no surrogates, ≤ U+10FFFF).
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
      min = 0x10000;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const uint8_t cc = uint8_t(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (!ok) {
      out += "\\ufffd";
      ++i;  // Go consumes one byte of an invalid sequence
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      out += cp == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  out.push_back('"');
}

std::string goJsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  appendGoJsonString(out, s);
  return out;
}

namespace {

struct Layout {
  bool indent = false;
  std::string_view prefix, unit;  // MarshalIndent's prefix and indent
};

void newlineIndent(std::string& out, const Layout& l, int depth) {
  out.push_back('\n');
  out.append(l.prefix);
  for (int i = 0; i < depth; ++i) out.append(l.unit);
}

// Go writes a float64 with no fraction (below 1e21, where it switches to exponent form) as an
// integer: 2.0 is "2", not nlohmann's "2.0".
void appendNumber(std::string& out, const OrderedJson& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.0f", d);
      out += buf;
      return;
    }
  }
  out += v.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

// Walks the tree so that every string goes through appendGoJsonString and every number through
// appendNumber; booleans and null keep nlohmann's formatting. Layout is Go's: compact, or
// MarshalIndent with a prefix and an indent unit.
void marshalValue(std::string& out, const OrderedJson& v, const Layout& l, int depth) {
  if (v.is_string()) {
    appendGoJsonString(out, v.get_ref<const std::string&>());
  } else if (v.is_object()) {
    if (v.empty()) {
      out += "{}";
      return;
    }
    out.push_back('{');
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) out.push_back(',');
      first = false;
      if (l.indent) newlineIndent(out, l, depth + 1);
      appendGoJsonString(out, it.key());
      out += l.indent ? ": " : ":";
      marshalValue(out, it.value(), l, depth + 1);
    }
    if (l.indent) newlineIndent(out, l, depth);
    out.push_back('}');
  } else if (v.is_array()) {
    if (v.empty()) {
      out += "[]";
      return;
    }
    out.push_back('[');
    bool first = true;
    for (const auto& e : v) {
      if (!first) out.push_back(',');
      first = false;
      if (l.indent) newlineIndent(out, l, depth + 1);
      marshalValue(out, e, l, depth + 1);
    }
    if (l.indent) newlineIndent(out, l, depth);
    out.push_back(']');
  } else {
    appendNumber(out, v);
  }
}

}  // namespace

std::string goMarshal(const OrderedJson& value, bool indent) {
  std::string out;
  marshalValue(out, value, Layout{indent, "", "\t"}, 0);
  return out;
}

std::string goMarshalIndent(const OrderedJson& value, std::string_view prefix, std::string_view indent) {
  std::string out;
  marshalValue(out, value, Layout{true, prefix, indent}, 0);
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
