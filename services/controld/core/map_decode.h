// Decodes one MapResponse JSON payload with a streaming (SAX) parser: each peer in Peers /
// PeersChanged is built as a small DOM, converted to a compact Node and dropped, so a
// 10,000-peer map never exists as a DOM. Other top-level fields are small and are converted from
// a DOM of that field only; unknown fields are skipped without being built.
// Schema violations give Error::invalid naming the field; nothing here throws or aborts.
#pragma once

#include <string_view>

#include "libs/base/result.h"
#include "services/controld/core/map_types.h"

namespace tnet::controld {

inline constexpr size_t MAX_JSON_DEPTH = 64;
// A node's Hostinfo is kept as JSON for LocalAPI whois (Node.hostinfoJson) only up to this size
// and nesting (Go's own is ~1 KiB, 4 levels); a bigger or deeper one is dropped, the typed
// fields (PeerHostinfo) are still used. 10,000 peers cost at most 160 MiB, in practice ~10 MiB.
inline constexpr size_t MAX_NODE_HOSTINFO_JSON = 16u << 10;
inline constexpr int MAX_NODE_HOSTINFO_DEPTH = 16;

Result<MapResponse> decodeMapResponse(std::string_view json);

}  // namespace tnet::controld
