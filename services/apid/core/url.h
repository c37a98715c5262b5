// The parts of Go's net/url and encoding/base64 the LocalAPI front needs, with Go's leniencies:
// request-target splitting, path unescaping, one query value, and the X-Tailscale-Reason check.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::apid {

struct Target {
  std::string path;      // percent-decoded, as Go's URL.Path
  std::string rawQuery;  // after '?', undecoded, without '#fragment'
  std::string host;      // from an absolute-form target ("http://host/path"); empty otherwise
  bool absolute = false;
};

// Splits an origin-form ("/p?q") or absolute-form ("http://h/p?q") request target as Go's
// url.ParseRequestURI does. INVALID for anything else ("*", a bad %-escape, control bytes).
Result<Target> parseRequestTarget(std::string_view target);

// Go's url.PathUnescape / QueryUnescape: nullopt on a malformed %-escape. With `plusIsSpace`
// (query components) '+' decodes to ' '.
std::optional<std::string> percentDecode(std::string_view text, bool plusIsSpace);

// Go's url.Values.Get(key) on url.ParseQuery(rawQuery): the first value for key. Pairs that do
// not parse (bad escape, ';') are skipped, as FormValue does.
std::optional<std::string> queryValue(std::string_view rawQuery, std::string_view key);

// Go's base64.StdEncoding.DecodeString(s) == nil: padded standard alphabet; '\r' and '\n' ignored.
bool isValidStdBase64(std::string_view text);

}  // namespace tnet::apid
