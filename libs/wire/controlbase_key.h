// The control server's reply to `GET /key?v=<capver>` (Go: controlclient.loadServerPubKeys,
// tailcfg.OverTLSPublicKeyResponse): {"legacyPublicKey":"mkey:…","publicKey":"mkey:…"}, or, from
// very old servers, the bare 64-hex legacy key. `publicKey` is controlbase's responder static.
#pragma once

#include <cstddef>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/wire/keys.h"

namespace tnet::controlbase {

// Go reads at most this much of the body; anything after it is ignored.
constexpr size_t MAX_KEY_RESPONSE_LEN = 64 << 10;

struct ServerKeys {
  key::MachinePublic legacyPublicKey;  // zero for current clients
  key::MachinePublic publicKey;        // the Noise key; zero from a too-old server
};

// Parses the body as Go does: JSON first (case-insensitive field names, unknown fields ignored,
// null leaves a key zero); if that fails, the whole body as a bare hex legacy key.
Result<ServerKeys> parseServerKeyResponse(ByteSpan body);
// The Noise key, or Go's error when the server has none.
Result<key::MachinePublic> noiseKeyOf(const ServerKeys& keys);

}  // namespace tnet::controlbase
