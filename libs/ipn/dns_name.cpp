#include "libs/ipn/dns_name.h"

#include <cstdio>

namespace tnet::ipn {
namespace {

constexpr size_t MAX_LABEL = 63;
constexpr size_t MAX_NAME = 254;  // including the trailing dot, as Go counts

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool isDnsChar(char c) {
  return isAlnum(c) || c == '-';
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trimSuffixOnce(std::string_view s, std::string_view suffix) {
  if (s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
    s.remove_suffix(suffix.size());
  }
  return s;
}

Result<void> validLabel(std::string_view label) {
  if (label.empty()) return Error::invalid("empty DNS label");
  if (label.size() > MAX_LABEL) {
    return Error::invalid(goQuote(label) + " is too long, max length is 63 bytes");
  }
  if (!isAlnum(label.front())) {
    return Error::invalid(goQuote(label) + " is not a valid DNS label: must start with a letter or number");
  }
  if (!isAlnum(label.back())) {
    return Error::invalid(goQuote(label) + " is not a valid DNS label: must end with a letter or number");
  }
  for (size_t i = 1; i + 1 < label.size(); ++i) {
    if (!isDnsChar(label[i])) {
      return Error::invalid(goQuote(label) + " is not a valid DNS label: contains invalid character " + "'" +
                            std::string(1, label[i]) + "'");
    }
  }
  return {};
}

}  // namespace

std::string goQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

Result<void> validHostname(std::string_view hostname) {
  if (hostname.empty() || hostname == ".") return {};
  if (hostname.front() == '.') hostname.remove_prefix(1);
  size_t total = hostname.size();
  if (hostname.back() == '.')
    hostname.remove_suffix(1);
  else
    total += 1;  // the implied trailing dot
  if (total > MAX_NAME) {
    return Error::invalid(goQuote(hostname) + " is too long to be a DNS name");
  }
  size_t start = 0;
  for (;;) {
    size_t dot = hostname.find('.', start);
    std::string_view label = hostname.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (auto r = validLabel(label); !r) return r;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return {};
}

std::string sanitizeHostname(std::string_view hostname) {
  hostname = trimSuffixOnce(hostname, ".local");
  hostname = trimSuffixOnce(hostname, ".localdomain");
  hostname = trimSuffixOnce(hostname, ".lan");
  size_t start = 0;
  size_t end = hostname.size() > MAX_LABEL ? MAX_LABEL : hostname.size();
  while (start < end && !isAlnum(hostname[start])) ++start;
  while (start < end && !isAlnum(hostname[end - 1])) --end;
  std::string out;
  for (size_t i = start; i < end; ++i) {
    bool boundary = i == start || i == end - 1;
    char c = hostname[i];
    bool separator = c == ' ' || c == '.' || c == '@' || c == '_';
    if (!boundary && separator)
      out += '-';
    else if (isDnsChar(c))
      out += lower(c);
  }
  return out;
}

std::string trimDnsSuffix(std::string_view name, std::string_view suffix) {
  auto stripDot = [](std::string_view s) {
    if (!s.empty() && s.back() == '.') s.remove_suffix(1);
    return s;
  };
  std::string_view n = stripDot(name);
  std::string_view sfx = stripDot(suffix);
  if (!sfx.empty() && sfx.front() == '.') sfx.remove_prefix(1);
  // HasSuffix: a whole-label suffix, and not the entire name.
  if (!sfx.empty() && n.size() > sfx.size() + 1 && n.substr(n.size() - sfx.size()) == sfx &&
      n[n.size() - sfx.size() - 1] == '.') {
    n = n.substr(0, n.size() - sfx.size());
  }
  return std::string(stripDot(n));
}

}  // namespace tnet::ipn
