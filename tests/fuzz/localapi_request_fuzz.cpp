// Fuzzes apid's request decision (services/apid/core/request.h) — the same decideRequest() the
// server calls after Beast has split a request into method, target, headers and body — plus the
// Go-compatible JSON scanner and the watch-ipn-bus shaping it relies on.
//
// Input layout: byte 0 picks the caller (root / owner / other); then a text request
//   "METHOD TARGET\n" + "Name: value\n"… + "\n" + body
// Without a blank line everything after the header lines is empty body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "services/apid/core/go_json.h"
#include "services/apid/core/notify_filter.h"
#include "services/apid/core/request.h"
#include "services/apid/core/watch_session.h"

using namespace tnet::apid;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Caller callers[] = {{0, 0, 1}, {1000, 1000, 2}, {1001, 1001, 3}};
  Caller caller = callers[data[0] % 3];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  size_t eol = in.find('\n');
  std::string_view line = in.substr(0, eol);
  in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
  size_t sp = line.find(' ');
  std::string_view method = line.substr(0, sp);
  std::string_view target = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);

  std::vector<HeaderField> headers;
  while (!in.empty()) {
    eol = in.find('\n');
    std::string_view h = in.substr(0, eol);
    in = eol == std::string_view::npos ? std::string_view() : in.substr(eol + 1);
    if (h.empty()) break;
    size_t colon = h.find(':');
    std::string_view name = h.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.push_back({name, value});
  }
  std::string_view body = in;

  Policy policy{1000, "fuzz"};
  HttpRequest req{method, target, (data[0] & 4) ? 10u : 11u, headers, body};
  Decision d = decideRequest(req, caller, policy);
  if (auto* f = std::get_if<ForwardRequest>(&d)) {
    // ipnd's answer is untrusted input too: reuse the body as the reply and as notify events.
    HttpResponse r = responseFromIpnd(*f, policy, static_cast<uint16_t>(data[0] * 3), "", body);
    (void)r;
    if (f->streaming) {
      WatchSession s(f->watchMask, policy.version, 4);
      s.onEvent(1, body);
      s.start(body.substr(0, body.size() / 2), 1);
      for (uint64_t seq = 0; seq < 6; ++seq) s.onEvent(seq, body);
      while (s.next()) {
      }
    }
  }
  (void)checkJsonForStruct(body, "ipn.Prefs");
  (void)notifyForMask(body, data[0]);
  return 0;
}
