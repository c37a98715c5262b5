#include "services/apid/core/notify_filter.h"

#include <algorithm>
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

std::string errorNotifyJson(std::string_view version, std::string_view message) {
  // Field order and null-valued members as Go's encoding of ipn.Notify with only these two set.
  return "{\"Version\":" + goJsonString(version) + ",\"ErrMessage\":" + goJsonString(message) +
         ",\"LoginFinished\":null,\"State\":null,\"Prefs\":null,\"NetMap\":null,\"Engine\":null,"
         "\"BrowseToURL\":null,\"DriveShares\":null}";
}

}  // namespace tnet::apid
