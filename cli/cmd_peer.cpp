// `tnet ping`, `tnet whois`, `tnet netcheck`: Go's runPing, runWhoIs and runNetcheck over the
// LocalAPI (netcheck through tailnetd's own endpoint: a thin client has no UDP socket to probe).
#include <netdb.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/localapi_calls.h"
#include "cli/peer_format.h"
#include "libs/ipn/go_json.h"
#include "libs/ipn/netip.h"

namespace tnet::cli {

namespace {

// Go's LocalClient.WhoIs/Ping escape the value with url.QueryEscape.
std::string queryEscape(std::string_view s) {
  static const char* HEX = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += HEX[c >> 4];
      out += HEX[c & 15];
    }
  }
  return out;
}

// Go's final fallback in tailscaleIPFromArg: the system resolver.
Result<std::string> lookupHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return Error::failed("error looking up IP of \"" + host + "\": " + gai_strerror(rc));
  std::string ip;
  char buf[NI_MAXHOST];
  if (res && getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) == 0) ip = buf;
  freeaddrinfo(res);
  if (ip.empty()) return Error::failed("no IPs found for \"" + host + "\"");
  return ip;
}

bool osHasIpv6() {
  return access("/proc/net/if_inet6", R_OK) == 0;
}

}  // namespace

int runPing(CommandContext& ctx, const PingArgs& args) {
  auto st = getJson(ctx.client, "/localapi/v0/status");
  if (!st) return reportError(ctx, st.error());
  bool running = false;
  std::string description = backendStateDescription(*st, running);
  if (!running) {
    std::cout << description << "\n";
    return EXIT_FAILURE_CODE;
  }
  if (args.target.empty()) return reportError(ctx, Error::invalid("usage: ping <hostname-or-IP>"));
  auto target = pingTargetFromArg(*st, args.target);
  if (!target) return reportError(ctx, target.error());
  std::string ip;
  if (*target) {
    if ((*target)->self) {
      std::cout << (*target)->ip << " is local Tailscale IP\n";
      return EXIT_OK;
    }
    ip = (*target)->ip;
  } else {
    auto looked = lookupHost(args.target);
    if (!looked) return reportError(ctx, looked.error());
    ip = *looked;
  }
  if (args.verbose && ip != args.target) std::cerr << "lookup \"" << args.target << "\" => \"" << ip << "\"\n";

  std::string type = args.tsmp ? "TSMP" : args.icmp ? "ICMP" : "disco";
  std::string path = "/localapi/v0/ping?ip=" + queryEscape(ip) + "&type=" + type;
  auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(args.timeout);
  if (timeout.count() <= 0) timeout = std::chrono::milliseconds(1);
  int n = 0;
  bool anyPong = false;
  for (;;) {
    ++n;
    auto resp = ctx.client.requestWithin("POST", path, {}, timeout);
    if (!resp) return reportError(ctx, resp.error());
    if (!*resp) {
      std::cout << "ping \"" << ip << "\" timed out\n" << std::flush;
      if (n == args.count) {
        if (!anyPong) return reportError(ctx, Error::failed("no reply"));
        return EXIT_OK;
      }
      continue;
    }
    auto body = checkLocalApiResponse(std::move(**resp), 200);
    if (!body) return reportError(ctx, body.error());
    auto pr = nlohmann::json::parse(*body, nullptr, false);
    if (pr.is_discarded() || !pr.is_object()) return reportError(ctx, Error::invalid("invalid ping result from tailnetd"));
    if (pr.value("IsLocalIP", false) && pr.value("Err", "") != "") {
      std::cout << pr.value("Err", "") << "\n";
      return EXIT_OK;
    }
    auto line = formatPong(pr, type);
    if (!line) return reportError(ctx, line.error());
    anyPong = true;
    std::cout << *line << std::flush;
    if (args.tsmp || args.icmp) return EXIT_OK;
    if (pr.value("Endpoint", "") != "" && args.untilDirect) return EXIT_OK;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (n == args.count) {
      if (!anyPong) return reportError(ctx, Error::failed("no reply"));
      if (args.untilDirect) return reportError(ctx, Error::failed("direct connection not established"));
      return EXIT_OK;
    }
  }
}

int runWhoIs(CommandContext& ctx, const WhoIsArgs& args) {
  if (args.positional.size() > 1) return reportError(ctx, Error::invalid("too many arguments, expected at most one peer"));
  if (args.positional.empty()) return reportError(ctx, Error::invalid("missing argument, expected one peer"));
  auto resp = ctx.client.request("GET", "/localapi/v0/whois?addr=" + queryEscape(args.positional[0]));
  if (!resp) return reportError(ctx, resp.error());
  if (resp->status == 404) return reportError(ctx, Error::failed("peer not found"));  // Go's ErrPeerNotFound
  auto body = checkLocalApiResponse(std::move(*resp), 200);
  if (!body) return reportError(ctx, body.error());
  auto who = nlohmann::json::parse(*body, nullptr, false);
  if (who.is_discarded() || !who.is_object()) return reportError(ctx, Error::invalid("invalid whois answer from tailnetd"));
  if (args.json) {
    auto text = formatWhoIsJson(*body);
    if (!text) return reportError(ctx, text.error());
    std::cout << *text;
    return EXIT_OK;
  }
  std::cout << formatWhoIs(who);
  return EXIT_OK;
}

int runNetcheck(CommandContext& ctx, const NetcheckArgs& args) {
  if (!args.format.empty() && args.format != "json" && args.format != "json-line") {
    return reportError(ctx, Error::invalid("unknown output format \"" + args.format + "\""));
  }
  auto body = callLocalApi(ctx.client, "GET", "/localapi/v0/tailnetd/netcheck", 200);
  if (!body) return reportError(ctx, body.error());
  auto answer = nlohmann::ordered_json::parse(*body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object() || !answer.contains("Report")) {
    return reportError(ctx, Error::invalid("invalid netcheck answer from tailnetd"));
  }
  if (args.format == "json") {
    std::cout << ipn::goMarshal(answer["Report"], /*indent=*/true) << "\n";  // Go: MarshalIndent, "\t"
    return EXIT_OK;
  }
  if (args.format == "json-line") {
    std::cout << ipn::goMarshal(answer["Report"]) << "\n";
    return EXIT_OK;
  }
  std::cout << formatNetcheck(nlohmann::json::parse(*body), osHasIpv6(), args.verbose);
  return EXIT_OK;
}

}  // namespace tnet::cli
