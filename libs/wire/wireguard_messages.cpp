#include "libs/wire/wireguard_messages.h"

#include <cstring>
#include <string>

namespace tnet::wire {
namespace {

template <size_t N>
void readInto(std::array<uint8_t, N>& dst, const uint8_t* src) {
  std::memcpy(dst.data(), src, N);
}

template <size_t N>
uint8_t* writeFrom(uint8_t* dst, const std::array<uint8_t, N>& src) {
  std::memcpy(dst, src.data(), N);
  return dst + N;
}

Result<void> expectExact(ByteSpan d, WgMessageType type, size_t size, const char* name) {
  if (d.size() != size) {
    return Error::invalid(std::string(name) + ": size " + std::to_string(d.size()) + ", want " +
                          std::to_string(size));
  }
  if (getU32LE(d.data()) != static_cast<uint32_t>(type))
    return Error::invalid(std::string(name) + ": wrong type");
  return {};
}

}  // namespace

Result<WgMessageType> classifyWgDatagram(ByteSpan d) {
  if (d.size() < 4) return Error::invalid("wireguard: datagram shorter than the type field");
  if (d.size() > WG_MAX_MESSAGE_SIZE) return Error::invalid("wireguard: datagram larger than 65535 bytes");
  const uint32_t type = getU32LE(d.data());
  switch (type) {
    case static_cast<uint32_t>(WgMessageType::INITIATION):
      if (d.size() != WG_INITIATION_SIZE) return Error::invalid("wireguard: initiation of wrong size");
      return WgMessageType::INITIATION;
    case static_cast<uint32_t>(WgMessageType::RESPONSE):
      if (d.size() != WG_RESPONSE_SIZE) return Error::invalid("wireguard: response of wrong size");
      return WgMessageType::RESPONSE;
    case static_cast<uint32_t>(WgMessageType::COOKIE_REPLY):
      if (d.size() != WG_COOKIE_REPLY_SIZE) return Error::invalid("wireguard: cookie reply of wrong size");
      return WgMessageType::COOKIE_REPLY;
    case static_cast<uint32_t>(WgMessageType::TRANSPORT):
      if (d.size() < WG_KEEPALIVE_SIZE)
        return Error::invalid("wireguard: transport shorter than a keepalive");
      return WgMessageType::TRANSPORT;
    default:
      return Error::invalid("wireguard: unknown message type");
  }
}

Result<WgInitiation> parseWgInitiation(ByteSpan d) {
  TNET_TRY_VOID(expectExact(d, WgMessageType::INITIATION, WG_INITIATION_SIZE, "wireguard initiation"));
  WgInitiation m;
  m.sender = getU32LE(d.data() + 4);
  readInto(m.ephemeral, d.data() + 8);
  readInto(m.encryptedStatic, d.data() + 40);
  readInto(m.encryptedTimestamp, d.data() + 88);
  readInto(m.mac1, d.data() + 116);
  readInto(m.mac2, d.data() + 132);
  return m;
}

Result<WgResponse> parseWgResponse(ByteSpan d) {
  TNET_TRY_VOID(expectExact(d, WgMessageType::RESPONSE, WG_RESPONSE_SIZE, "wireguard response"));
  WgResponse m;
  m.sender = getU32LE(d.data() + 4);
  m.receiver = getU32LE(d.data() + 8);
  readInto(m.ephemeral, d.data() + 12);
  readInto(m.encryptedNothing, d.data() + 44);
  readInto(m.mac1, d.data() + 60);
  readInto(m.mac2, d.data() + 76);
  return m;
}

Result<WgCookieReply> parseWgCookieReply(ByteSpan d) {
  TNET_TRY_VOID(expectExact(d, WgMessageType::COOKIE_REPLY, WG_COOKIE_REPLY_SIZE, "wireguard cookie reply"));
  WgCookieReply m;
  m.receiver = getU32LE(d.data() + 4);
  readInto(m.nonce, d.data() + 8);
  readInto(m.encryptedCookie, d.data() + 32);
  return m;
}

Result<WgTransportHeader> parseWgTransportHeader(ByteSpan d) {
  if (d.size() < WG_KEEPALIVE_SIZE) return Error::invalid("wireguard transport: shorter than a keepalive");
  if (d.size() > WG_MAX_MESSAGE_SIZE) return Error::invalid("wireguard transport: larger than 65535 bytes");
  if (getU32LE(d.data()) != static_cast<uint32_t>(WgMessageType::TRANSPORT)) {
    return Error::invalid("wireguard transport: wrong type");
  }
  return WgTransportHeader{getU32LE(d.data() + WG_TRANSPORT_OFFSET_RECEIVER),
                           getU64LE(d.data() + WG_TRANSPORT_OFFSET_COUNTER)};
}

Bytes serializeWgInitiation(const WgInitiation& m) {
  Bytes out(WG_INITIATION_SIZE);
  putU32LE(out.data(), static_cast<uint32_t>(WgMessageType::INITIATION));
  putU32LE(out.data() + 4, m.sender);
  uint8_t* p = writeFrom(out.data() + 8, m.ephemeral);
  p = writeFrom(p, m.encryptedStatic);
  p = writeFrom(p, m.encryptedTimestamp);
  p = writeFrom(p, m.mac1);
  writeFrom(p, m.mac2);
  return out;
}

Bytes serializeWgResponse(const WgResponse& m) {
  Bytes out(WG_RESPONSE_SIZE);
  putU32LE(out.data(), static_cast<uint32_t>(WgMessageType::RESPONSE));
  putU32LE(out.data() + 4, m.sender);
  putU32LE(out.data() + 8, m.receiver);
  uint8_t* p = writeFrom(out.data() + 12, m.ephemeral);
  p = writeFrom(p, m.encryptedNothing);
  p = writeFrom(p, m.mac1);
  writeFrom(p, m.mac2);
  return out;
}

Bytes serializeWgCookieReply(const WgCookieReply& m) {
  Bytes out(WG_COOKIE_REPLY_SIZE);
  putU32LE(out.data(), static_cast<uint32_t>(WgMessageType::COOKIE_REPLY));
  putU32LE(out.data() + 4, m.receiver);
  uint8_t* p = writeFrom(out.data() + 8, m.nonce);
  writeFrom(p, m.encryptedCookie);
  return out;
}

void writeWgTransportHeader(uint8_t* out, uint32_t receiver, uint64_t counter) {
  putU32LE(out, static_cast<uint32_t>(WgMessageType::TRANSPORT));
  putU32LE(out + WG_TRANSPORT_OFFSET_RECEIVER, receiver);
  putU64LE(out + WG_TRANSPORT_OFFSET_COUNTER, counter);
}

}  // namespace tnet::wire
