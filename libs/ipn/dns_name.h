// Go's util/dnsname rules that tnet and ipnd apply (validation, sanitising, suffix trimming).
#pragma once

#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::ipn {

// dnsname.ValidHostname: every label 1–63 bytes of letters, digits and inner hyphens; the
// whole name at most 253 bytes (254 with the final dot). Errors read as Go's.
Result<void> validHostname(std::string_view hostname);

// dnsname.SanitizeHostname: strips .local/.localdomain/.lan and makes one valid label.
std::string sanitizeHostname(std::string_view hostname);

// dnsname.TrimSuffix: name without the suffix (when it is one) and without a trailing dot.
std::string trimDnsSuffix(std::string_view name, std::string_view suffix);

// Go's %q for the ASCII strings we quote (backslash-escapes quotes, backslashes and controls).
std::string goQuote(std::string_view s);

}  // namespace tnet::ipn
