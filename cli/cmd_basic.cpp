// down, set, status, version, debug isolation: one LocalAPI round trip or two each.
#include <unistd.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/isolation_report.h"
#include "cli/localapi_calls.h"
#include "cli/version_info.h"
#include "libs/sandbox/isolation.h"

namespace tnet::cli {

int reportError(const CommandContext& ctx, const Error& error) {
  std::cerr << error.message << "\n";
  if (error.kind == ErrorKind::DENIED && geteuid() != 0) {
    std::string args;
    for (const auto& a : ctx.argv) args += (args.empty() ? "" : " ") + a;
    std::cerr << "\nUse 'sudo tnet " << args << "'.\n"
              << "To not require root, use 'sudo tnet set --operator=$USER' once.\n";
  }
  return EXIT_FAILURE_CODE;
}

int runDown(CommandContext& ctx) {
  auto st = getJson(ctx.client, "/localapi/v0/status");
  if (!st) {
    if (st.error().kind == ErrorKind::DISCONNECTED) return reportError(ctx, st.error());
    Error e = st.error();
    e.message = "error fetching current status: " + e.message;
    return reportError(ctx, e);
  }
  if (st->value("BackendState", "") == "Stopped") {
    std::cerr << "Tailscale was already stopped.\n";
    return EXIT_OK;
  }
  auto r = callLocalApi(ctx.client, "PATCH", "/localapi/v0/prefs", 200, downMaskedPrefs().dump());
  if (!r) return reportError(ctx, r.error());
  return EXIT_OK;
}

std::optional<int> runSet(CommandContext& ctx, const PrefFlags& flags) {
  auto st = getJson(ctx.client, "/localapi/v0/status");
  if (!st) return reportError(ctx, st.error());
  if (flags.empty()) return std::nullopt;
  auto cur = getJson(ctx.client, "/localapi/v0/prefs");
  if (!cur) return reportError(ctx, cur.error());
  auto masked = maskedPrefsFromSetFlags(flags, *st, *cur);
  if (!masked) return reportError(ctx, masked.error());

  // Go checks the edited prefs first so a refused combination changes nothing.
  nlohmann::json checkPrefs = applyMaskedPrefs(*cur, *masked);
  auto checked = callLocalApi(ctx.client, "POST", "/localapi/v0/check-prefs", 200, checkPrefs.dump());
  if (!checked) return reportError(ctx, checked.error());
  if (auto e = jsonErrorField(*checked)) return reportError(ctx, Error::invalid(*e));

  auto r = callLocalApi(ctx.client, "PATCH", "/localapi/v0/prefs", 200, masked->dump());
  if (!r) return reportError(ctx, r.error());
  return EXIT_OK;
}

int runStatus(CommandContext& ctx, const StatusArgs& args) {
  std::string path = "/localapi/v0/status";
  if (!args.view.peers) path += "?peers=false";
  auto body = callLocalApi(ctx.client, "GET", path, 200);
  if (!body) return reportError(ctx, body.error());
  if (args.json) {
    if (!args.view.active) {
      // The daemon's Status JSON, byte for byte.
      std::cout << *body;
      if (body->empty() || body->back() != '\n') std::cout << "\n";
      return EXIT_OK;
    }
    auto st = nlohmann::ordered_json::parse(*body, nullptr, false);
    if (st.is_discarded()) return reportError(ctx, Error::invalid("invalid status JSON from tailnetd"));
    if (st.contains("Peer") && st["Peer"].is_object()) {
      nlohmann::ordered_json kept = nlohmann::ordered_json::object();
      for (auto it = st["Peer"].begin(); it != st["Peer"].end(); ++it) {
        if (it->value("Active", false)) kept[it.key()] = *it;
      }
      st["Peer"] = kept;
    }
    std::cout << st.dump(2) << "\n";
    return EXIT_OK;
  }
  auto st = nlohmann::json::parse(*body, nullptr, false);
  if (!st.is_object()) return reportError(ctx, Error::invalid("invalid status JSON from tailnetd"));
  StatusText text = formatStatus(st, args.view, std::chrono::system_clock::now());
  std::cout << text.out;
  return text.exitCode;
}

int runVersion(CommandContext* ctx, const VersionArgs& args) {
  std::string daemon;
  if (args.daemon) {
    auto st = getJson(ctx->client, "/localapi/v0/status?peers=false");
    if (!st) return reportError(*ctx, st.error());
    daemon = st->value("Version", "");
  }
  if (args.json) {
    std::cout << versionJson(daemon).dump(1, '\t') << "\n";
    return EXIT_OK;
  }
  if (!args.daemon) {
    std::cout << versionText() << "\n";
    return EXIT_OK;
  }
  std::cout << "Client: " << versionText() << "\n";
  std::cout << "Daemon: " << daemon << "\n";
  return EXIT_OK;
}

int runDebugIsolation(CommandContext& ctx) {
  auto report = getJson(ctx.client, "/localapi/v0/tailnetd/isolation");
  if (!report) return reportError(ctx, report.error());
  auto services = parseIsolationReport(*report);
  if (!services) return reportError(ctx, services.error());
  // As root tnet can read every service's /proc entry itself, which does not depend on the
  // services telling the truth about themselves.
  bool fromProc = geteuid() == 0;
  if (fromProc) readFactsFromProc(*services);
  uint64_t ownNetns = sandbox::netnsInode(0).value_or(0);
  std::cout << formatIsolation(*services, ownNetns, fromProc);
  return EXIT_OK;
}

}  // namespace tnet::cli
