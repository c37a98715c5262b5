#include "tests/integration/testderp/http_head.h"

#include <cctype>

namespace tnet::testderp {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::optional<std::string> RequestHead::header(std::string_view lowerName) const {
  for (const auto& [k, v] : headers) {
    if (k == lowerName) return v;
  }
  return std::nullopt;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

bool validChallenge(std::string_view challenge) {
  if (challenge.empty() || challenge.size() > 64) return false;
  for (char c : challenge) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' && c != '-')
      return false;
  }
  return true;
}

Result<RequestHead> parseRequestHead(std::string_view head) {
  if (head.size() > MAX_HEAD_BYTES) return Error::invalid("request head too large");
  RequestHead r;
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return Error::invalid("no request line");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos)
    return Error::invalid("bad request line");
  r.method = std::string(line.substr(0, sp1));
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  r.version = std::string(line.substr(sp2 + 1));
  if (r.method.empty() || target.empty() || target.front() != '/')
    return Error::invalid("bad request target");
  if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0") return Error::invalid("bad HTTP version");
  for (char c : r.method) {
    if (!isTokenChar(c)) return Error::invalid("bad method");
  }
  r.path = std::string(target.substr(0, target.find('?')));
  std::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    if (e == std::string_view::npos) return Error::invalid("unterminated header");
    std::string_view h = rest.substr(0, e);
    rest.remove_prefix(e + 2);
    if (h.empty()) break;
    size_t colon = h.find(':');
    if (colon == 0 || colon == std::string_view::npos) return Error::invalid("bad header line");
    std::string name(h.substr(0, colon));
    for (char& c : name) {
      if (!isTokenChar(c)) return Error::invalid("bad header name");
      c = char(std::tolower(static_cast<unsigned char>(c)));
    }
    if (r.headers.size() >= 100) return Error::invalid("too many headers");
    r.headers.emplace_back(std::move(name), std::string(trim(h.substr(colon + 1))));
  }
  return r;
}

std::string httpResponse(int status, std::string_view reason,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::string_view body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  for (const auto& [k, v] : headers) out += k + ": " + v + "\r\n";
  if (status != 204) out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace tnet::testderp
