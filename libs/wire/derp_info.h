// The sealed JSON documents of the DERP handshake (derp_client.go, derpserver.go):
//   ClientInfo frame payload = client node public key[32] || nonce[24] || box(JSON), sealed from
//   the client's node private key to the server's public key;
//   ServerInfo frame payload = nonce[24] || box(JSON), sealed from server to client.
// The JSON uses exactly Go's keys and field order (`meshKey`, `version`, `CanAckPings`,
// `IsProber`, `AppName`; `version`, `TokenBucketBytesPerSecond`, `TokenBucketBytesBurst`) with
// Go's omission rules; decoding matches keys case-insensitively and rejects wrong types, as Go's
// encoding/json does. Unknown keys are ignored.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/crypto/secret.h"
#include "libs/wire/derp.h"

namespace tnet::derp {

// Move-only: it may carry the mesh key, a pre-shared secret.
struct ClientInfo {
  // Pre-shared mesh key (64 hex digits in JSON); all zero means none and is omitted.
  crypto::SecretKey32 meshKey;
  int64_t version = 0;       // omitted when 0; clients send PROTOCOL_VERSION
  bool canAckPings = false;  // always written
  bool isProber = false;     // omitted when false
  std::string appName;       // omitted when empty
  bool operator==(const ClientInfo&) const = default;
};

struct ServerInfo {
  int64_t version = 0;                    // omitted when 0; servers send PROTOCOL_VERSION
  int64_t tokenBucketBytesPerSecond = 0;  // omitted when 0
  int64_t tokenBucketBytesBurst = 0;      // omitted when 0
  bool operator==(const ServerInfo&) const = default;
};

std::string marshalClientInfo(const ClientInfo& info);  // byte-identical to Go's json.Marshal
Result<ClientInfo> unmarshalClientInfo(std::string_view json);
std::string marshalServerInfo(const ServerInfo& info);
Result<ServerInfo> unmarshalServerInfo(std::string_view json);

// Client: appends a whole ClientInfo frame. The nonce is random unless given (tests). A zero
// private key is a bug (Go panics too).
Result<void> appendClientInfo(Bytes& out, const ClientInfo& info, const NodePrivate& clientPriv,
                              const NodePublic& serverPub);
Result<void> appendClientInfo(Bytes& out, const ClientInfo& info, const NodePrivate& clientPriv,
                              const NodePublic& serverPub, std::span<const uint8_t, NONCE_LEN> nonce);

// Server: checks the frame as Go's recvClientKey (type ClientInfo, 56 ≤ length ≤ 256 KiB), opens
// the box with the key the client claims (which authenticates it) and parses the JSON.
struct OpenedClientInfo {
  NodePublic clientKey;
  ClientInfo info;
};
Result<OpenedClientInfo> openClientInfo(const Frame& frame, const NodePrivate& serverPriv);

// Server: appends a whole ServerInfo frame.
Result<void> appendServerInfo(Bytes& out, const ServerInfo& info, const NodePrivate& serverPriv,
                              const NodePublic& clientPub);
Result<void> appendServerInfo(Bytes& out, const ServerInfo& info, const NodePrivate& serverPriv,
                              const NodePublic& clientPub, std::span<const uint8_t, NONCE_LEN> nonce);

// Client: opens a ServerInfo payload (decodeServerFrame's ServerInfoSealed) as Go's
// parseServerInfo: 24 ≤ length ≤ 24 + 1 MiB, box from the server key, JSON.
Result<ServerInfo> openServerInfo(ByteSpan sealed, const NodePrivate& clientPriv,
                                  const NodePublic& serverPub);

}  // namespace tnet::derp
