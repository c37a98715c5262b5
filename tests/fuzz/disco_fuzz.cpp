// Fuzzes disco as magicsockd receives it: openMessage() on a whole datagram with our disco
// private key (the seeds are the vectors' real packets to key B), parseMessage() on raw
// plaintext (a random box never opens), and sealing arbitrary plaintext then opening it.
//
// Input: byte 0 = mode (0 packet, 1 plaintext, 2 seal-then-open); the rest is the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "libs/crypto/crypto.h"
#include "libs/wire/disco.h"

using namespace tnet;
using namespace tnet::disco;

namespace {

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

DiscoPrivate filled(uint8_t b) {
  crypto::init();
  crypto::Key32 k;
  k.fill(b);
  return DiscoPrivate::fromSpan(k);
}

struct Keys {
  DiscoPrivate aPriv = filled(0x03);  // the vectors' disco keys
  DiscoPrivate bPriv = filled(0x04);
  DiscoPublic aPub = aPriv.publicKey();
  DiscoPublic bPub = bPriv.publicKey();
};

// parse(marshal(m)) == m for the types whose encoding is not lossy in Go either (a Ping whose
// key is zero but present, or a v≠0 relay message parsed as empty, do not round-trip).
void checkRoundTrip(const Message& m) {
  const bool exact = std::holds_alternative<Pong>(m) || std::holds_alternative<CallMeMaybe>(m) ||
                     std::holds_alternative<BindUdpRelayEndpoint>(m) ||
                     std::holds_alternative<UnknownMessage>(m);
  Bytes wire = marshalMessage(m);
  auto back = parseMessage(wire);
  if (exact) FUZZ_CHECK(back && *back == m);
  (void)messageName(m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Keys keys;
  if (size == 0) return 0;
  ByteSpan in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      (void)looksLikeDiscoWrapper(in);
      (void)senderKey(in);
      auto r = openMessage(in, keys.bPriv);
      if (r) checkRoundTrip(r->message);
      break;
    }
    case 1: {
      auto m = parseMessage(in);
      if (m) checkRoundTrip(*m);
      break;
    }
    default: {
      auto pkt = sealPacket(in, keys.aPriv, keys.bPub);
      FUZZ_CHECK(pkt && pkt->size() == in.size() + PACKET_OVERHEAD);
      Bytes scratch(in.size());
      auto opened = openPacket(*pkt, keys.bPriv, scratch);
      FUZZ_CHECK(opened && opened->sender == keys.aPub);
      FUZZ_CHECK(opened->plaintext.size() == in.size());
      FUZZ_CHECK(in.empty() || std::equal(in.begin(), in.end(), opened->plaintext.begin()));
      auto m = openMessage(*pkt, keys.bPriv);
      auto direct = parseMessage(in);
      FUZZ_CHECK(bool(m) == bool(direct));
      break;
    }
  }
  return 0;
}
