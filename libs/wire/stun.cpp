#include "libs/wire/stun.h"

#include <cstring>

#include "libs/crypto/crypto.h"

namespace tnet::stun {

namespace {

constexpr size_t FINGERPRINT_ATTR_LEN = 8;  // type[2] len[2] crc[4]

// CRC-32/IEEE (reflected, polynomial 0xEDB88320) as Go's hash/crc32.ChecksumIEEE. Only STUN
// needs it and the table is 1 KiB, so it lives here rather than pulling in zlib.
struct CrcTable {
  uint32_t v[256];
  constexpr CrcTable() : v() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
      v[i] = c;
    }
  }
};
constexpr CrcTable CRC_TABLE;

uint32_t crc32Ieee(ByteSpan data) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t b : data) c = CRC_TABLE.v[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Walks type[2] len[2] value[len] attributes padded to 4 bytes, as Go's foreachAttr: a
// truncated header or a (padded) value running past the end is malformed.
template <typename Fn>
Result<void> forEachAttr(ByteSpan b, Fn&& fn) {
  while (!b.empty()) {
    if (b.size() < 4) return Error::invalid("STUN response has malformed attributes");
    uint16_t type = getU16BE(b.data());
    size_t len = getU16BE(b.data() + 2);
    size_t padded = (len + 3) & ~size_t(3);
    b = b.subspan(4);
    if (padded > b.size()) return Error::invalid("STUN response has malformed attributes");
    TNET_TRY_VOID(fn(type, b.first(len)));
    b = b.subspan(padded);
  }
  return {};
}

size_t familyAddrLen(uint8_t family) {
  switch (family) {
    case 0x01:
      return 4;
    case 0x02:
      return 16;
    default:
      return 0;
  }
}

wire::IpPort fromRaw(const uint8_t* addr, size_t len, uint16_t port) {
  if (len == 4) return wire::IpPort::v4(std::span<const uint8_t, 4>(addr, 4), port);
  return wire::IpPort::v6(std::span<const uint8_t, 16>(addr, 16), port);
}

}  // namespace

TxId newTxId() {
  TxId t;
  crypto::randomBytes(t);
  return t;
}

uint32_t fingerprint(ByteSpan data) {
  return crc32Ieee(data) ^ FINGERPRINT_XOR;
}

std::array<uint8_t, REQUEST_LEN> bindingRequest(const TxId& txId) {
  std::array<uint8_t, REQUEST_LEN> b{};
  putU16BE(&b[0], 0x0001);  // Binding request
  putU16BE(&b[2], uint16_t(4 + SOFTWARE.size() + FINGERPRINT_ATTR_LEN));
  std::memcpy(&b[4], MAGIC_COOKIE, 4);
  std::memcpy(&b[8], txId.data(), txId.size());
  putU16BE(&b[20], ATTR_SOFTWARE);
  putU16BE(&b[22], uint16_t(SOFTWARE.size()));  // 8: no padding needed
  std::memcpy(&b[24], SOFTWARE.data(), SOFTWARE.size());
  uint32_t fp = fingerprint(ByteSpan(b.data(), 32));
  putU16BE(&b[32], ATTR_FINGERPRINT);
  putU16BE(&b[34], 4);
  putU32BE(&b[36], fp);
  return b;
}

bool isStun(ByteSpan p) {
  return p.size() >= HEADER_LEN && (p[0] & 0xC0) == 0 && std::memcmp(p.data() + 4, MAGIC_COOKIE, 4) == 0;
}

Result<TxId> parseBindingRequest(ByteSpan p) {
  if (!isStun(p)) return Error::invalid("not a STUN packet");
  if (p[0] != 0x00 || p[1] != 0x01) return Error::invalid("STUN request not a binding request");
  TxId tx;
  std::memcpy(tx.data(), p.data() + 8, tx.size());
  bool softwareOk = false;
  uint16_t lastAttr = 0;
  uint32_t gotFp = 0;
  // Go walks everything after the header here, ignoring the header's length field.
  TNET_TRY_VOID(forEachAttr(p.subspan(HEADER_LEN), [&](uint16_t type, ByteSpan v) -> Result<void> {
    lastAttr = type;
    if (type == ATTR_SOFTWARE && v.size() == SOFTWARE.size() &&
        std::memcmp(v.data(), SOFTWARE.data(), SOFTWARE.size()) == 0) {
      softwareOk = true;
    }
    if (type == ATTR_FINGERPRINT && v.size() == 4) gotFp = getU32BE(v.data());
    return {};
  }));
  if (!softwareOk) return Error::invalid("STUN request came from non-Tailscale software");
  if (lastAttr != ATTR_FINGERPRINT) return Error::invalid("STUN request didn't end in fingerprint");
  // lastAttr is FINGERPRINT, so at least one 4-byte attribute header follows the STUN header.
  if (fingerprint(p.first(p.size() - FINGERPRINT_ATTR_LEN)) != gotFp) {
    return Error::invalid("STUN request had bogus fingerprint");
  }
  return tx;
}

Result<BindingResponse> parseResponse(ByteSpan p) {
  if (!isStun(p)) return Error::invalid("response is not a STUN packet");
  BindingResponse r;
  std::memcpy(r.txId.data(), p.data() + 8, r.txId.size());
  if (p[0] != 0x01 || p[1] != 0x01) return Error::invalid("STUN packet is not a response");
  size_t attrsLen = getU16BE(p.data() + 2);
  ByteSpan attrs = p.subspan(HEADER_LEN);
  if (attrsLen > attrs.size()) return Error::invalid("STUN response has malformed attributes");
  attrs = attrs.first(attrsLen);  // trailing packet bytes are ignored

  std::optional<wire::IpPort> xorAddr, fallback;
  TNET_TRY_VOID(forEachAttr(attrs, [&](uint16_t type, ByteSpan v) -> Result<void> {
    if (type == ATTR_XOR_MAPPED_ADDRESS || type == ATTR_XOR_MAPPED_ADDRESS_ALT) {
      if (v.size() < 4) return Error::invalid("STUN response has malformed attributes");
      size_t alen = familyAddrLen(v[1]);
      if (alen == 0 || v.size() - 4 < alen) return Error::invalid("STUN response has malformed attributes");
      uint8_t addr[16];
      for (size_t i = 0; i < alen; ++i) {
        addr[i] = v[4 + i] ^ (i < 4 ? MAGIC_COOKIE[i] : r.txId[i - 4]);
      }
      xorAddr = fromRaw(addr, alen, uint16_t(getU16BE(v.data() + 2) ^ 0x2112));
    } else if (type == ATTR_MAPPED_ADDRESS) {
      if (v.size() < 4) return Error::invalid("STUN response has malformed attributes");
      size_t alen = familyAddrLen(v[1]);
      if (alen == 0 || v.size() - 4 < alen) return Error::invalid("STUN response has malformed attributes");
      fallback = fromRaw(v.data() + 4, alen, getU16BE(v.data() + 2));
    }
    return {};
  }));
  if (xorAddr) {
    r.mapped = *xorAddr;
  } else if (fallback) {
    r.mapped = *fallback;
  } else {
    return Error::invalid("STUN response has no mapped address");
  }
  return r;
}

Result<wire::IpPort> parseResponseFor(ByteSpan p, const TxId& expected) {
  TNET_TRY(auto r, parseResponse(p));
  if (r.txId != expected) return Error::invalid("STUN response transaction ID mismatch");
  return r.mapped;
}

size_t writeBindingResponse(std::span<uint8_t, MAX_RESPONSE_LEN> out, const TxId& txId,
                            const wire::IpPort& addr) {
  const bool v4 = addr.is4();
  const size_t alen = v4 ? 4 : 16;
  const size_t attrsLen = 8 + alen;
  uint8_t* b = out.data();
  b[0] = 0x01;  // Binding success response
  b[1] = 0x01;
  putU16BE(b + 2, uint16_t(attrsLen));
  std::memcpy(b + 4, MAGIC_COOKIE, 4);
  std::memcpy(b + 8, txId.data(), txId.size());
  putU16BE(b + 20, ATTR_XOR_MAPPED_ADDRESS);
  putU16BE(b + 22, uint16_t(4 + alen));
  b[24] = 0;
  b[25] = v4 ? 0x01 : 0x02;
  putU16BE(b + 26, addr.port ^ 0x2112);
  const uint8_t* ip = addr.ip16.data() + (16 - alen);
  for (size_t i = 0; i < alen; ++i) b[28 + i] = ip[i] ^ (i < 4 ? MAGIC_COOKIE[i] : txId[i - 4]);
  return HEADER_LEN + attrsLen;
}

Bytes bindingResponse(const TxId& txId, const wire::IpPort& addr) {
  std::array<uint8_t, MAX_RESPONSE_LEN> buf{};
  size_t n = writeBindingResponse(buf, txId, addr);
  return Bytes(buf.begin(), buf.begin() + n);
}

}  // namespace tnet::stun
