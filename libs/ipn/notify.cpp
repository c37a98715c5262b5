#include "libs/ipn/notify.h"

#include <algorithm>

namespace tnet::ipn {

Result<uint64_t> parseWatchMask(std::string_view text) {
  uint64_t mask = 0;
  if (!text.empty()) {
    if (text.size() > 20) return Error::invalid("bad mask");
    for (char c : text) {
      if (c < '0' || c > '9') return Error::invalid("bad mask");
      uint64_t digit = uint64_t(c - '0');
      if (mask > (UINT64_MAX - digit) / 10) return Error::invalid("bad mask");
      mask = mask * 10 + digit;
    }
  }
  if (mask & NOTIFY_IN_PROCESS_NO_DISCONNECT) {
    return Error::invalid("NotifyInProcessNoDisconnect is only valid for in-process IPN bus subscribers");
  }
  constexpr uint64_t INCOMPATIBLE =
      NOTIFY_PEER_CHANGES | NOTIFY_NO_NET_MAP | NOTIFY_INITIAL_STATUS | NOTIFY_PEER_PATCHES;
  if ((mask & NOTIFY_RATE_LIMIT) && (mask & INCOMPATIBLE)) {
    return Error::invalid("NotifyRateLimit is incompatible with new-style IPN bus subscription bits");
  }
  return mask;
}

OrderedJson notifyToJson(const Notify& n) {
  OrderedJson o = OrderedJson::object();
  o["Version"] = n.version;
  if (!n.sessionId.empty()) o["SessionID"] = n.sessionId;
  o["ErrMessage"] = n.errMessage ? OrderedJson(*n.errMessage) : OrderedJson(nullptr);
  o["LoginFinished"] = n.loginFinished ? OrderedJson::object() : OrderedJson(nullptr);
  o["State"] = n.state ? OrderedJson(static_cast<int>(*n.state)) : OrderedJson(nullptr);
  o["Prefs"] = n.prefs ? prefsToJson(*n.prefs) : OrderedJson(nullptr);
  if (n.initialStatus) o["InitialStatus"] = *n.initialStatus;
  o["NetMap"] = nullptr;
  if (n.engine) {
    OrderedJson e = OrderedJson::object();
    e["RBytes"] = n.engine->rBytes;
    e["WBytes"] = n.engine->wBytes;
    e["NumLive"] = n.engine->numLive;
    e["LiveDERPs"] = n.engine->liveDerps;
    e["LivePeers"] = nullptr;
    o["Engine"] = std::move(e);
  } else {
    o["Engine"] = nullptr;
  }
  o["BrowseToURL"] = n.browseToUrl ? OrderedJson(*n.browseToUrl) : OrderedJson(nullptr);
  o["DriveShares"] = nullptr;
  if (n.health) {
    // Go marshals the Warnings map with its keys sorted.
    std::vector<HealthWarning> sorted = *n.health;
    std::sort(sorted.begin(), sorted.end(),
              [](const HealthWarning& a, const HealthWarning& b) { return a.code < b.code; });
    OrderedJson warnings = OrderedJson::object();
    for (const auto& w : sorted) {
      OrderedJson u = OrderedJson::object();
      u["WarnableCode"] = w.code;
      u["Severity"] = w.severity;
      u["Title"] = w.title;
      u["Text"] = w.text;
      if (w.impactsConnectivity) u["ImpactsConnectivity"] = true;
      warnings[w.code] = std::move(u);
    }
    o["Health"] = OrderedJson{{"Warnings", n.health->empty() ? OrderedJson(nullptr) : warnings}};
  }
  return o;
}

std::string notifyToString(const Notify& n) {
  return goMarshal(notifyToJson(n));
}

bool notifyWantedBy(const Notify& n, uint64_t mask) {
  if (n.engine && !(mask & NOTIFY_WATCH_ENGINE_UPDATES)) {
    // Go drops Engine-only messages for watchers that did not ask for them.
    return n.state || n.prefs || n.errMessage || n.loginFinished || n.browseToUrl || n.health;
  }
  return true;
}

}  // namespace tnet::ipn
