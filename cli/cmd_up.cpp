// `tnet up`: Go's runUp sequence. Watch the IPN bus first (so nothing is missed), then start
// (or just edit prefs when already running), then follow Notify messages until Running.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "cli/duration.h"
#include "cli/localapi_calls.h"

namespace tnet::cli {
namespace {

using Json = nlohmann::json;

constexpr const char* STATE_NAMES[] = {"NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth",
                                       "Stopped", "Starting",       "Running"};
constexpr int STATE_NEEDS_MACHINE_AUTH = 3;
constexpr int STATE_RUNNING = 6;

std::string stateName(int s) {
  if (s >= 0 && s < static_cast<int>(std::size(STATE_NAMES))) return STATE_NAMES[s];
  return "state " + std::to_string(s);
}

bool isLoginServerSynonym(const std::string& v) {
  return v == "https://login.tailscale.com" || v == "https://controlplane.tailscale.com";
}

// Go's Prefs.AdminPageURL.
std::string adminPageUrl(const std::string& controlUrl) {
  if (controlUrl.empty() || isLoginServerSynonym(controlUrl)) return "https://login.tailscale.com/admin";
  return controlUrl + "/admin";
}

void printUpJson(const std::string& authUrl, const std::string& backendState, const std::string& error,
                 bool tabs) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!authUrl.empty()) j["AuthURL"] = authUrl;
  if (!backendState.empty()) j["BackendState"] = backendState;
  if (!error.empty()) j["Error"] = error;
  std::cout << (tabs ? j.dump(1, '\t') : j.dump(2)) << std::endl;
}

std::string jsonString(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A Notify field that is set (Go writes the unset ones as null).
bool has(const Json& n, const char* key) {
  auto it = n.find(key);
  return it != n.end() && !it->is_null();
}

}  // namespace

int runUp(CommandContext& ctx, const UpArgs& args) {
  auto st = getJson(ctx.client, "/localapi/v0/status");
  if (!st) return reportError(ctx, st.error());
  const std::string backendState = jsonString(*st, "BackendState");
  const std::string origAuthUrl = jsonString(*st, "AuthURL");
  std::string origNodeKey;
  if (auto self = st->find("Self"); self != st->end() && self->is_object()) {
    origNodeKey = jsonString(*self, "PublicKey");
  }
  const bool haveNodeKey = st->value("HaveNodeKey", false);

  auto cur = getJson(ctx.client, "/localapi/v0/prefs");
  if (!cur) return reportError(ctx, cur.error());
  const char* user = std::getenv("USER");
  auto prefs = prefsFromUpFlags(args.prefs, *st, *cur, args.reset, user ? user : "");
  if (!prefs) return reportError(ctx, prefs.error());

  bool simpleUp = false;
  // `login` starts from Go's fresh profile: nothing there to revert by accident.
  if (!args.reset && !args.loginMode) {
    auto sorted = args.explicitFlags;
    std::sort(sorted.begin(), sorted.end());  // Go's flag.Visit order: by name
    std::vector<std::string> explicitArgs;
    for (const auto& [name, text] : sorted) explicitArgs.push_back(text);
    auto check = checkForAccidentalSettingReverts(*prefs, *cur, args.prefs, args.anyFlagGiven, explicitArgs,
                                                  backendState, *st);
    if (!check) return reportError(ctx, check.error());
    simpleUp = check->simpleUp;
  }

  const std::string curControl = jsonString(*cur, "ControlURL");
  const std::string newControl = (*prefs)["ControlURL"].get<std::string>();
  const bool controlUrlChanged =
      curControl != newControl && !(isLoginServerSynonym(curControl) && isLoginServerSynonym(newControl));
  if (controlUrlChanged && backendState == "Running" && !args.forceReauth) {
    return reportError(ctx, Error::invalid("can't change --login-server without --force-reauth"));
  }

  // Already running and nothing needs a new login: edit prefs in place, as Go does.
  if (backendState == "Running" && !args.forceReauth && args.authKeyOrFile.empty() && !controlUrlChanged) {
    auto r = callLocalApi(ctx.client, "PATCH", "/localapi/v0/prefs", 200,
                          justEditMaskedPrefs(*prefs, args.prefs, args.reset).dump());
    if (!r) return reportError(ctx, r.error());
    return EXIT_OK;
  }

  // Watch before start or login-interactive, or the auth URL could be missed.
  auto watcher = ctx.client.watchIpnBus(0);
  if (!watcher) return reportError(ctx, watcher.error());

  if (simpleUp) {
    nlohmann::ordered_json mp = {{"WantRunning", true}, {"WantRunningSet", true}};
    auto r = callLocalApi(ctx.client, "PATCH", "/localapi/v0/prefs", 200, mp.dump());
    if (!r) return reportError(ctx, r.error());
  } else {
    auto checked = callLocalApi(ctx.client, "POST", "/localapi/v0/check-prefs", 200, prefs->dump());
    if (!checked) return reportError(ctx, checked.error());
    if (auto e = jsonErrorField(*checked)) return reportError(ctx, Error::invalid(*e));
    auto authKey = resolveAuthKey(args.authKeyOrFile);
    if (!authKey) return reportError(ctx, authKey.error());
    auto started =
        callLocalApi(ctx.client, "POST", "/localapi/v0/start", 204, startOptions(*prefs, *authKey).dump());
    if (!started) return reportError(ctx, started.error());
    if (args.forceReauth || !haveNodeKey) {
      auto login = callLocalApi(ctx.client, "POST", "/localapi/v0/login-interactive", 204);
      if (!login) return reportError(ctx, login.error());
    }
  }

  const bool forever = args.timeout.count() <= 0;
  const auto deadline = forever ? Clock::time_point::max()
                                : Clock::now() + std::chrono::duration_cast<Clock::duration>(args.timeout);
  bool printed = false;
  std::string lastUrlPrinted;
  std::string lastState = backendState;
  bool ipnIsRunning = false;
  bool waitingForKeyChange = args.forceReauth;
  const std::string controlForAdmin = newControl;

  if (simpleUp && backendState == "NeedsMachineAuth") {
    printed = true;
    if (args.json) {
      printUpJson("", "NeedsMachineAuth", "", false);
    } else {
      lastUrlPrinted = adminPageUrl(controlForAdmin);
      std::cerr << "\nTo approve your machine, visit (as admin):\n\n\t" << lastUrlPrinted << "\n\n";
    }
  }

  for (;;) {
    auto line = (*watcher)->nextLine(forever ? Clock::now() + std::chrono::hours(24) : deadline);
    if (!line) return reportError(ctx, line.error());
    if (!*line) {
      if (forever) continue;
      return reportError(ctx, Error::failed("timeout waiting for tailnetd to enter a Running state after " +
                                            formatDuration(args.timeout) + " (state " + lastState +
                                            "); check health with \"tnet status\""));
    }
    Json n = Json::parse(**line, nullptr, false);
    if (!n.is_object()) continue;  // not a Notify; Go's decoder would fail, we skip it
    if (auto e = n.find("ErrMessage"); e != n.end() && e->is_string()) {
      return reportError(ctx, Error::failed("backend error: " + e->get<std::string>()));
    }
    if (auto s = n.find("State"); s != n.end() && s->is_number_integer()) {
      int state = s->get<int>();
      std::string name = stateName(state);
      if (name != lastState && !args.json) std::cerr << "Backend state: " << name << "\n";
      lastState = name;
      if (state == STATE_NEEDS_MACHINE_AUTH) {
        printed = true;
        if (args.json) {
          printUpJson("", "NeedsMachineAuth", "", false);
        } else if (adminPageUrl(controlForAdmin) != lastUrlPrinted) {
          lastUrlPrinted = adminPageUrl(controlForAdmin);
          std::cerr << "\nTo approve your machine, visit (as admin):\n\n\t" << lastUrlPrinted << "\n\n";
        }
      }
      ipnIsRunning = state == STATE_RUNNING;
    }
    if (auto self = n.find("SelfChange"); self != n.end() && self->is_object()) {
      if (jsonString(*self, "Key") != origNodeKey) waitingForKeyChange = false;
    }
    // tailnetd sends no SelfChange: a re-login shows as new Prefs (its Persist changed) or a
    // State, after which status tells whether the node key changed.
    if (waitingForKeyChange && ipnIsRunning && (has(n, "State") || has(n, "Prefs") || has(n, "LoginFinished"))) {
      if (auto now = getJson(ctx.client, "/localapi/v0/status"); now) {
        std::string key;
        if (auto self = now->find("Self"); self != now->end() && self->is_object()) key = jsonString(*self, "PublicKey");
        if (!key.empty() && key != origNodeKey && key.find_first_not_of('0', 8) != std::string::npos) {
          waitingForKeyChange = false;
        }
      }
    }
    if (ipnIsRunning && !waitingForKeyChange) {
      if (args.json)
        printUpJson("", "Running", "", false);
      else if (printed)
        std::cerr << "Success.\n";
      return EXIT_OK;
    }
    if (auto u = n.find("BrowseToURL"); u != n.end() && u->is_string()) {
      std::string url = u->get<std::string>();
      // Go (issue 1755): with an auth key, a URL left from an earlier interactive login is noise;
      // with --force-reauth, the old URL is stale.
      bool show = !url.empty() && args.authKeyOrFile.empty() && !(args.forceReauth && url == origAuthUrl);
      if (!show || url == lastUrlPrinted) continue;
      printed = true;
      lastUrlPrinted = url;
      if (args.json)
        printUpJson(url, backendState, "", true);
      else
        std::cerr << "\nTo authenticate, visit:\n\n\t" << url << "\n\n";
    }
  }
}

}  // namespace tnet::cli
