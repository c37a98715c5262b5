#include "services/apid/core/notify_filter.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "services/apid/core/go_json.h"
#include "services/apid/core/watch_mask.h"

namespace tnet::apid {
namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t skipSpace(std::string_view s, size_t i) {
  while (i < s.size() && isSpace(s[i])) ++i;
  return i;
}

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not valid UTF-8.
size_t utf8Length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else
    return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
  if (cp >= 0xd800 && cp <= 0xdfff) return 0;
  return n;
}

}  // namespace

Result<std::string> removeTopLevelFields(std::string_view json, std::span<const std::string_view> names) {
  TNET_TRY(JsonValueSpan whole, scanFirstJsonValue(json));
  if (whole.kind != JsonKind::OBJECT) return Error::invalid("notify is not a JSON object");
  if (skipSpace(json, whole.end) != json.size()) {
    return Error::invalid("trailing bytes after the notify object");
  }
  // The object is well-formed, so the member walk below cannot run off the end.
  std::vector<std::string_view> kept;
  bool removed = false;
  size_t i = skipSpace(json, whole.begin + 1);
  while (json[i] != '}') {
    size_t memberBegin = i;
    TNET_TRY(JsonValueSpan key, scanFirstJsonValue(json.substr(i)));
    std::string_view keyText = json.substr(i + 1, key.end - key.begin - 2);
    i = skipSpace(json, i + key.end);  // at ':'
    i = skipSpace(json, i + 1);
    TNET_TRY(JsonValueSpan value, scanFirstJsonValue(json.substr(i)));
    i += value.end;
    std::string_view member = json.substr(memberBegin, i - memberBegin);
    if (std::find(names.begin(), names.end(), keyText) != names.end()) {
      removed = true;
    } else {
      kept.push_back(member);
    }
    i = skipSpace(json, i);
    if (json[i] == ',') i = skipSpace(json, i + 1);
  }
  if (!removed) return std::string(json);
  std::string out = "{";
  for (size_t k = 0; k < kept.size(); ++k) {
    if (k) out += ',';
    out += kept[k];
  }
  out += '}';
  return out;
}

Result<std::string> notifyForMask(std::string_view json, uint64_t mask) {
  std::vector<std::string_view> strip;
  if (!(mask & (NOTIFY_PEER_CHANGES | NOTIFY_PEER_PATCHES))) {
    strip.insert(strip.end(), {"PeersChanged", "PeersRemoved", "UserProfiles"});
  }
  if (!(mask & NOTIFY_PEER_PATCHES)) strip.push_back("PeerChangedPatch");
  if (!(mask & NOTIFY_PEER_WIREGUARD_STATE)) strip.push_back("PeerState");
  return removeTopLevelFields(json, strip);
}

std::string goJsonString(std::string_view text) {
  std::string out = "\"";
  char buf[8];
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
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
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    size_t n = utf8Length(text, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    std::string_view seq = text.substr(i, n);
    if (seq == "\xe2\x80\xa8")
      out += "\\u2028";
    else if (seq == "\xe2\x80\xa9")
      out += "\\u2029";
    else
      out += seq;
    i += n;
  }
  out += '"';
  return out;
}

std::string errorNotifyJson(std::string_view version, std::string_view message) {
  // Field order and null-valued members as Go's encoding of ipn.Notify with only these two set.
  return "{\"Version\":" + goJsonString(version) + ",\"ErrMessage\":" + goJsonString(message) +
         ",\"LoginFinished\":null,\"State\":null,\"Prefs\":null,\"NetMap\":null,\"Engine\":null,"
         "\"BrowseToURL\":null,\"DriveShares\":null}";
}

}  // namespace tnet::apid
