// STUN (RFC 5389) as Tailscale's net/stun speaks it: the one fixed 40-byte binding request
// (SOFTWARE "tailnode" then FINGERPRINT), parsing of binding success responses
// (XOR-MAPPED-ADDRESS, its non-standard 0x8020 twin, MAPPED-ADDRESS as a fallback), and the
// server side — recognising a Tailscale binding request and writing the one-attribute response
// a DERP server's STUN responder sends. No I/O; every parser takes untrusted bytes.
#pragma once

#include <array>
#include <cstdint>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/wire/disco_endpoint.h"

namespace tnet::stun {

using TxId = std::array<uint8_t, 12>;

constexpr size_t HEADER_LEN = 20;
constexpr size_t REQUEST_LEN = 40;                        // header + SOFTWARE(12) + FINGERPRINT(8)
constexpr size_t MAX_RESPONSE_LEN = HEADER_LEN + 8 + 16;  // our writer, IPv6 case
constexpr uint8_t MAGIC_COOKIE[4] = {0x21, 0x12, 0xa4, 0x42};
constexpr uint16_t ATTR_MAPPED_ADDRESS = 0x0001;
constexpr uint16_t ATTR_XOR_MAPPED_ADDRESS = 0x0020;
constexpr uint16_t ATTR_XOR_MAPPED_ADDRESS_ALT = 0x8020;  // sent by some servers; Go accepts it
constexpr uint16_t ATTR_SOFTWARE = 0x8022;
constexpr uint16_t ATTR_FINGERPRINT = 0x8028;
constexpr uint32_t FINGERPRINT_XOR = 0x5354554e;
constexpr std::string_view SOFTWARE = "tailnode";

TxId newTxId();  // 12 random bytes

// The binding request Tailscale clients send (and Tailscale's STUN server insists on).
std::array<uint8_t, REQUEST_LEN> bindingRequest(const TxId& txId);

// CRC-32 (IEEE) of data XOR 0x5354554e: the FINGERPRINT attribute value.
uint32_t fingerprint(ByteSpan data);

// Go stun.Is: ≥ 20 bytes, top two bits of byte 0 clear, magic cookie at 4..8.
bool isStun(ByteSpan packet);

// Server side, as Go's ParseBindingRequest: a Binding request carrying SOFTWARE "tailnode"
// whose last attribute is a correct FINGERPRINT. Returns its transaction ID.
Result<TxId> parseBindingRequest(ByteSpan packet);

struct BindingResponse {
  TxId txId{};
  wire::IpPort mapped;  // IPv4 results are v4-mapped (see IpPort)
};

// Client side, as Go's ParseResponse: a success response (01 01), attributes bounded by the
// header length (trailing bytes ignored), XOR-MAPPED-ADDRESS preferred over MAPPED-ADDRESS.
Result<BindingResponse> parseResponse(ByteSpan packet);
// parseResponse plus the check the caller must make: the response answers `expected`.
Result<wire::IpPort> parseResponseFor(ByteSpan packet, const TxId& expected);

// The binding success response Tailscale's STUN server writes: one XOR-MAPPED-ADDRESS.
// Returns the number of bytes written to `out` (32 for IPv4, 44 for IPv6).
size_t writeBindingResponse(std::span<uint8_t, MAX_RESPONSE_LEN> out, const TxId& txId,
                            const wire::IpPort& addr);
Bytes bindingResponse(const TxId& txId, const wire::IpPort& addr);

}  // namespace tnet::stun
