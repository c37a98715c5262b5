// The PacketFilter an operator sets with POST /admin/filter: a JSON array of Go's
// tailcfg.FilterRule. Decoded with Go's encoding/json rules (keys matched case-insensitively,
// unknown fields ignored, wrong JSON kinds are errors with Go's wording), then checked the way a
// control server checks a policy before sending it — a typo must be a 400, not a filter that
// silently denies everything — and re-encoded in tailcfg's field order with its omitempty tags,
// so clients never see the operator's raw bytes.
#pragma once

#include <string_view>

#include "libs/base/result.h"
#include "libs/ipn/go_json.h"

namespace tnet::testcontrol {

// `body` is the request body. An empty array is valid (Go: "[] = deny all"); `null`, a non-array,
// a rule without SrcIPs, an address that is not "*", an IP, a CIDR or an "a-b" range, a port range
// with First > Last, an IPProto outside 0..255 and CapGrant (not supported here) are errors.
Result<ipn::OrderedJson> parseFilterRules(std::string_view body);

}  // namespace tnet::testcontrol
