#include "cli/http_response_parser.h"

#include <algorithm>

namespace tnet::cli {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

bool parseHex(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 15) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  out = v;
  return true;
}

}  // namespace

std::optional<std::string> HttpResponseParser::header(std::string_view name) const {
  for (const auto& [k, v] : headers_) {
    if (equalsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

Result<void> HttpResponseParser::fail(std::string message) {
  phase_ = Phase::FAILED;
  error_ = "malformed HTTP response from tailnetd: " + std::move(message);
  return Error::invalid(error_);
}

Result<void> HttpResponseParser::startBody() {
  // 1xx, 204 and 304 carry no body (RFC 9112 §6.3).
  if (status_ == 204 || status_ == 304 || (status_ >= 100 && status_ < 200)) {
    phase_ = Phase::DONE;
    return {};
  }
  auto te = header("Transfer-Encoding");
  if (te) {
    std::string v(trim(*te));
    std::transform(v.begin(), v.end(), v.begin(), lower);
    if (v != "chunked") return fail("unsupported Transfer-Encoding \"" + *te + "\"");
    phase_ = Phase::CHUNK_SIZE;
    return {};
  }
  if (auto cl = header("Content-Length")) {
    uint64_t n = 0;
    if (!parseDecimal(trim(*cl), n)) return fail("bad Content-Length \"" + *cl + "\"");
    remaining_ = n;
    phase_ = n == 0 ? Phase::DONE : Phase::BODY_LENGTH;
    return {};
  }
  phase_ = Phase::BODY_CLOSE;
  return {};
}

Result<void> HttpResponseParser::onLine(std::string_view line) {
  switch (phase_) {
    case Phase::STATUS_LINE: {
      // "HTTP/1.1 200 OK"
      if (line.substr(0, 7) != "HTTP/1.") return fail("bad status line");
      if (line.size() < 12 || line[8] != ' ') return fail("bad status line");
      uint64_t code = 0;
      if (!parseDecimal(line.substr(9, 3), code) || code < 100 || code > 999) {
        return fail("bad status code");
      }
      if (line.size() > 12 && line[12] != ' ') return fail("bad status line");
      status_ = static_cast<int>(code);
      reason_ = line.size() > 13 ? std::string(line.substr(13)) : std::string();
      phase_ = Phase::HEADERS;
      return {};
    }
    case Phase::HEADERS: {
      if (line.empty()) {
        if (status_ >= 100 && status_ < 200) {
          // An interim response; the real one follows.
          headers_.clear();
          phase_ = Phase::STATUS_LINE;
          return {};
        }
        return startBody();
      }
      if (headers_.size() >= MAX_HEADERS) return fail("too many headers");
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) return fail("bad header line");
      std::string_view name = line.substr(0, colon);
      if (name.find_first_of(" \t") != std::string_view::npos) return fail("bad header name");
      headers_.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
      return {};
    }
    case Phase::CHUNK_SIZE: {
      std::string_view size = line.substr(0, line.find(';'));  // ignore chunk extensions
      uint64_t n = 0;
      if (!parseHex(trim(size), n)) return fail("bad chunk size");
      remaining_ = n;
      phase_ = n == 0 ? Phase::TRAILERS : Phase::CHUNK_DATA;
      return {};
    }
    case Phase::CHUNK_DATA_END:
      if (!line.empty()) return fail("missing CRLF after chunk");
      phase_ = Phase::CHUNK_SIZE;
      return {};
    case Phase::TRAILERS:
      if (line.empty()) phase_ = Phase::DONE;
      return {};
    default:
      return fail("internal parser state");
  }
}

Result<void> HttpResponseParser::feed(std::string_view data, std::string& bodyOut) {
  if (phase_ == Phase::FAILED) return Error::invalid(error_);
  while (!data.empty()) {
    switch (phase_) {
      case Phase::DONE:
        return {};  // bytes after the response (we always send Connection: close): ignore
      case Phase::BODY_CLOSE:
        bodyOut.append(data);
        return {};
      case Phase::BODY_LENGTH:
      case Phase::CHUNK_DATA: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
        bodyOut.append(data.substr(0, n));
        data.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) {
          phase_ = phase_ == Phase::BODY_LENGTH ? Phase::DONE : Phase::CHUNK_DATA_END;
        }
        break;
      }
      default: {
        // Line-oriented phases: status line, headers, chunk sizes, trailers.
        size_t nl = data.find('\n');
        size_t take = nl == std::string_view::npos ? data.size() : nl + 1;
        headerBytes_ += take;
        if (headerBytes_ > MAX_HEADER_BYTES) return fail("header section too large");
        line_.append(data.substr(0, take));
        data.remove_prefix(take);
        if (nl == std::string_view::npos) break;
        std::string line = std::move(line_);
        line_.clear();
        line.pop_back();  // '\n'
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (auto r = onLine(line); !r) return r;
        // Chunk framing lines count against the limit only per line, not forever.
        if (phase_ == Phase::CHUNK_SIZE || phase_ == Phase::CHUNK_DATA) headerBytes_ = 0;
        break;
      }
    }
  }
  return {};
}

Result<void> HttpResponseParser::finish() {
  if (phase_ == Phase::FAILED) return Error::invalid(error_);
  if (phase_ == Phase::BODY_CLOSE) {
    phase_ = Phase::DONE;
    return {};
  }
  if (phase_ == Phase::DONE) return {};
  if (phase_ == Phase::STATUS_LINE && headerBytes_ == 0) {
    return Error::disconnected("tailnetd closed the connection without answering");
  }
  return Error::disconnected("tailnetd closed the connection mid-response");
}

}  // namespace tnet::cli
