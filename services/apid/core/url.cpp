#include "services/apid/core/url.h"

namespace tnet::apid {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool hasControlByte(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (a != prefix[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> percentDecode(std::string_view text, bool plusIsSpace) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hexValue(text[i + 1]);
      int lo = hexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plusIsSpace) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<Target> parseRequestTarget(std::string_view target) {
  if (target.empty()) return Error::invalid("empty request target");
  if (hasControlByte(target)) return Error::invalid("control byte in request target");
  Target t;
  std::string_view rest = target;
  if (startsWithNoCase(rest, "http://") || startsWithNoCase(rest, "https://")) {
    rest.remove_prefix(rest.find("://") + 3);
    size_t slash = rest.find_first_of("/?");
    t.host = std::string(rest.substr(0, slash));
    t.absolute = true;
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    // Go's Host for "http://h" with no path is "h" and Path is "".
  } else if (rest.front() != '/') {
    return Error::invalid("request target is not a path");
  }
  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) {
    // Go's ParseRequestURI keeps '#' as part of the path; a literal '#' never reaches us from
    // real clients, so treat it as malformed rather than guess.
    return Error::invalid("'#' in request target");
  }
  size_t q = rest.find('?');
  std::string_view rawPath = rest.substr(0, q);
  if (q != std::string_view::npos) t.rawQuery = std::string(rest.substr(q + 1));
  auto path = percentDecode(rawPath, false);
  if (!path) return Error::invalid("invalid URL escape in request path");
  t.path = std::move(*path);
  return t;
}

std::optional<std::string> queryValue(std::string_view rawQuery, std::string_view key) {
  while (!rawQuery.empty()) {
    size_t amp = rawQuery.find('&');
    std::string_view pair = rawQuery.substr(0, amp);
    rawQuery = amp == std::string_view::npos ? std::string_view() : rawQuery.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    size_t eq = pair.find('=');
    auto k = percentDecode(pair.substr(0, eq), true);
    if (!k) continue;
    std::string_view rawValue = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto v = percentDecode(rawValue, true);
    if (!v) continue;
    if (*k == key) return v;
  }
  return std::nullopt;
}

bool isValidStdBase64(std::string_view text) {
  std::string s;
  s.reserve(text.size());
  for (char c : text) {
    if (c != '\r' && c != '\n') s.push_back(c);
  }
  if (s.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=') {
      ++pad;
      continue;
    }
    if (!alpha || pad > 0) return false;  // data after padding
  }
  return pad <= 2;
}

}  // namespace tnet::apid
