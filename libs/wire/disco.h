// Disco, Tailscale's peer-discovery protocol (disco/disco.go): the sealed outer packet
// (magic "TS💬" || sender disco public key || nonce || NaCl box) and every inner message type Go
// defines, parsed and written byte for byte as Go does — including Go's leniencies (trailing
// bytes ignored, some types ignoring their body when the version byte is not 0). Message types
// this code does not know open fine and come back as UnknownMessage rather than an error.
// No I/O; parsers take untrusted bytes.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/crypto/crypto.h"
#include "libs/wire/disco_endpoint.h"
#include "libs/wire/keys.h"

namespace tnet::disco {

using key::DiscoPrivate;
using key::DiscoPublic;
using key::NodePublic;

constexpr uint8_t MAGIC[6] = {0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac};  // "TS💬"
constexpr size_t MAGIC_LEN = 6;
constexpr size_t KEY_LEN = 32;
constexpr size_t NONCE_LEN = 24;
constexpr size_t HEADER_LEN = MAGIC_LEN + KEY_LEN;                          // 38: magicsock's receive check
constexpr size_t WRAPPER_MIN_LEN = HEADER_LEN + NONCE_LEN;                  // 62: LooksLikeDiscoWrapper
constexpr size_t PACKET_OVERHEAD = WRAPPER_MIN_LEN + crypto::BOX_OVERHEAD;  // 78
constexpr size_t MESSAGE_HEADER_LEN = 2;                                    // type, version
constexpr size_t PING_LEN = 12 + KEY_LEN;                                   // without header or padding
constexpr size_t PONG_LEN = 12 + 16 + 2;
constexpr size_t BIND_COMMON_LEN = 72;
constexpr size_t RELAY_ENDPOINT_FIXED_LEN = KEY_LEN * 3 + 8 + 4 + 8 + 8;  // 124, before AddrPorts
constexpr size_t ALLOCATE_REQUEST_LEN = KEY_LEN * 2 + 4;

enum class MessageType : uint8_t {
  PING = 0x01,
  PONG = 0x02,
  CALL_ME_MAYBE = 0x03,
  BIND_UDP_RELAY_ENDPOINT = 0x04,
  BIND_UDP_RELAY_ENDPOINT_CHALLENGE = 0x05,
  BIND_UDP_RELAY_ENDPOINT_ANSWER = 0x06,
  CALL_ME_MAYBE_VIA = 0x07,
  ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST = 0x08,
  ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE = 0x09,
};

using TxId = std::array<uint8_t, 12>;

struct Ping {
  TxId txId{};
  NodePublic nodeKey;  // zero: absent (≤ 1.16 senders); written only when non-zero
  size_t padding = 0;  // zero bytes after the body (path-MTU probing)
  bool operator==(const Ping&) const = default;
};

struct Pong {
  TxId txId{};
  wire::IpPort src;  // where the ping came from, as the responder saw it
  bool operator==(const Pong&) const = default;
};

struct CallMeMaybe {
  std::vector<wire::IpPort> myNumber;
  bool operator==(const CallMeMaybe&) const = default;
};

// The three relay-handshake messages share one 72-byte body; `type` says which one.
struct BindUdpRelayEndpoint {
  MessageType type = MessageType::BIND_UDP_RELAY_ENDPOINT;
  uint32_t vni = 0;
  uint32_t generation = 0;
  DiscoPublic remoteKey;
  std::array<uint8_t, 32> challenge{};
  bool operator==(const BindUdpRelayEndpoint&) const = default;
};

struct UdpRelayEndpoint {
  DiscoPublic serverDisco;
  std::array<DiscoPublic, 2> clientDisco{};
  uint64_t lamportId = 0;
  uint32_t vni = 0;
  int64_t bindLifetimeNs = 0;
  int64_t steadyStateLifetimeNs = 0;
  std::vector<wire::IpPort> addrPorts;
  bool operator==(const UdpRelayEndpoint&) const = default;
};

struct CallMeMaybeVia {
  UdpRelayEndpoint endpoint;
  bool operator==(const CallMeMaybeVia&) const = default;
};

struct AllocateUdpRelayEndpointRequest {
  std::array<DiscoPublic, 2> clientDisco{};
  uint32_t generation = 0;
  bool operator==(const AllocateUdpRelayEndpointRequest&) const = default;
};

struct AllocateUdpRelayEndpointResponse {
  uint32_t generation = 0;
  UdpRelayEndpoint endpoint;
  bool operator==(const AllocateUdpRelayEndpointResponse&) const = default;
};

// A type byte Go does not define (yet): authenticated, so a newer peer; callers ignore it.
struct UnknownMessage {
  uint8_t type = 0;
  uint8_t version = 0;
  bool operator==(const UnknownMessage&) const = default;
};

using Message =
    std::variant<Ping, Pong, CallMeMaybe, BindUdpRelayEndpoint, CallMeMaybeVia,
                 AllocateUdpRelayEndpointRequest, AllocateUdpRelayEndpointResponse, UnknownMessage>;

// --- inner messages ---
// Parses a decrypted payload (type, version, body) as Go's disco.Parse. Errors are Go's
// "short message" cases; unknown types give UnknownMessage.
Result<Message> parseMessage(ByteSpan plaintext);
// Appends the payload Go's AppendMarshal writes. UnknownMessage writes just its 2-byte header.
void appendMessage(Bytes& out, const Message& msg);
Bytes marshalMessage(const Message& msg);
const char* messageName(const Message& msg);  // Go's MessageSummary words, for logs

// --- outer packet ---
// magicsock's check (length ≥ 38 and the magic) and the DERP server's (≥ 62 and the magic).
bool hasDiscoHeader(ByteSpan packet);
bool looksLikeDiscoWrapper(ByteSpan packet);
// The sender's disco public key, when hasDiscoHeader(packet).
std::optional<DiscoPublic> senderKey(ByteSpan packet);

// Seals `plaintext` from senderPriv (whose public key goes in the header) to receiverPub, with
// the given nonce (tests) or a random one. Fails only for a low-order receiver key; a zero
// private key is a bug.
Result<Bytes> sealPacket(ByteSpan plaintext, const DiscoPrivate& senderPriv, const DiscoPublic& receiverPub,
                         std::span<const uint8_t, NONCE_LEN> nonce);
Result<Bytes> sealPacket(ByteSpan plaintext, const DiscoPrivate& senderPriv, const DiscoPublic& receiverPub);
Result<Bytes> sealMessage(const Message& msg, const DiscoPrivate& senderPriv, const DiscoPublic& receiverPub);

struct OpenedPacket {
  DiscoPublic sender;
  ByteSpan plaintext;  // inside the caller's `scratch`
};
// Opens a disco packet addressed to us. `scratch` must hold packet.size() - 78 bytes (a
// packet-sized buffer always does). A box that does not open is Error::denied (Go drops these
// silently: typically an old disco key after a restart).
Result<OpenedPacket> openPacket(ByteSpan packet, const DiscoPrivate& myPriv, MutableByteSpan scratch);

struct OpenedMessage {
  DiscoPublic sender;
  Message message;
};
// openPacket + parseMessage: the one entry point magicsockd uses for received disco.
Result<OpenedMessage> openMessage(ByteSpan packet, const DiscoPrivate& myPriv);

}  // namespace tnet::disco
