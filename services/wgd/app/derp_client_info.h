// wgd.derpClientInfo (ARCHITECTURE.md §Keys): the DERP ClientInfo frame payload sealed with the
// node key, so magicsockd can log in to DERP without ever holding the key. wgd writes the JSON
// itself (Go derp.ClientInfo: meshKey omitted when zero, "version":2, CanAckPings always
// emitted, IsProber omitted when false), so the caller chooses nothing but the server key; it is
// not a general seal, open or DH operation.
#pragma once

#include <string_view>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/crypto/secret.h"

namespace tnet::wgd {

// What magicsock sends (derp.ClientInfo{Version: ProtocolVersion, CanAckPings: true}).
inline constexpr std::string_view DERP_CLIENT_INFO_JSON = R"({"version":2,"CanAckPings":true})";

// node public (32) || nonce (24) || box(JSON). INVALID for a server key that is not 32 bytes,
// is zero or is low-order (the shared secret would be all zeros).
Result<Bytes> sealDerpClientInfo(const crypto::PrivateKey& nodeKey, ByteSpan serverPublic);
// The same with a given nonce, for known-answer tests.
Result<Bytes> sealDerpClientInfoWithNonce(const crypto::PrivateKey& nodeKey, ByteSpan serverPublic,
                                          std::span<const uint8_t, crypto::BOX_NONCE_LEN> nonce);

}  // namespace tnet::wgd
