#include "services/apid/core/watch_mask.h"

#include <cstdio>
#include <vector>

#include "services/apid/core/url.h"

namespace tnet::apid {
namespace {

struct BitName {
  uint64_t bit;
  const char* name;
};

constexpr BitName BIT_NAMES[] = {
    {NOTIFY_WATCH_ENGINE_UPDATES, "NotifyWatchEngineUpdates"},
    {NOTIFY_INITIAL_STATE, "NotifyInitialState"},
    {NOTIFY_INITIAL_PREFS, "NotifyInitialPrefs"},
    {NOTIFY_INITIAL_NETMAP, "NotifyInitialNetMap"},
    {NOTIFY_NO_PRIVATE_KEYS, "NotifyNoPrivateKeys"},
    {NOTIFY_INITIAL_DRIVE_SHARES, "NotifyInitialDriveShares"},
    {NOTIFY_INITIAL_OUTGOING_FILES, "NotifyInitialOutgoingFiles"},
    {NOTIFY_INITIAL_HEALTH_STATE, "NotifyInitialHealthState"},
    {NOTIFY_RATE_LIMIT, "NotifyRateLimit"},
    {NOTIFY_HEALTH_ACTIONS, "NotifyHealthActions"},
    {NOTIFY_INITIAL_SUGGESTED_EXIT_NODE, "NotifyInitialSuggestedExitNode"},
    {NOTIFY_INITIAL_CLIENT_VERSION, "NotifyInitialClientVersion"},
    {NOTIFY_PEER_CHANGES, "NotifyPeerChanges"},
    {NOTIFY_NO_NETMAP, "NotifyNoNetMap"},
    {NOTIFY_INITIAL_STATUS, "NotifyInitialStatus"},
    {NOTIFY_PEER_PATCHES, "NotifyPeerPatches"},
    {NOTIFY_IN_PROCESS_NO_DISCONNECT, "NotifyInProcessNoDisconnect"},
    {NOTIFY_SYS_POLICY_CHANGES, "NotifySysPolicyChanges"},
    {NOTIFY_PEER_WIREGUARD_STATE, "NotifyPeerWireGuardState"},
};

std::string hexOpt(uint64_t v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "ipn.NotifyWatchOpt(0x%llx)", static_cast<unsigned long long>(v));
  return buf;
}

// strconv.ParseUint(s, 10, 64): digits only, no sign, no overflow.
bool parseDecimalU64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

}  // namespace

std::string notifyWatchOptString(uint64_t mask) {
  if (mask == 0) return "ipn.NotifyWatchOpt(0x0)";
  std::vector<std::string> parts;
  uint64_t known = 0;
  for (const BitName& b : BIT_NAMES) {
    if (mask & b.bit) {
      parts.push_back(std::string("ipn.") + b.name);
      known |= b.bit;
    }
  }
  if (known != mask) parts.push_back(hexOpt(mask ^ known));
  if (parts.size() == 1) return parts[0];
  std::string out = "(";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += " | ";
    out += parts[i];
  }
  return out + ")";
}

Result<uint64_t> parseWatchMask(std::string_view rawQuery) {
  uint64_t mask = 0;
  auto text = queryValue(rawQuery, "mask");
  if (text && !text->empty() && !parseDecimalU64(*text, mask)) return Error::invalid("bad mask");
  if (mask & NOTIFY_IN_PROCESS_NO_DISCONNECT) {
    return Error::invalid("NotifyInProcessNoDisconnect is only valid for in-process IPN bus subscribers");
  }
  if (mask & NOTIFY_RATE_LIMIT) {
    if (uint64_t bad = mask & NOTIFY_RATE_LIMIT_INCOMPATIBLE_BITS) {
      return Error::invalid("NotifyRateLimit is incompatible with new-style IPN bus subscription bits " +
                            notifyWatchOptString(bad));
    }
  }
  return mask;
}

}  // namespace tnet::apid
