// Fuzzes magicsockd's receive path on one UDP datagram: classify it (demux.h) and hand it to the
// codec it is routed to — disco openMessage with our key, STUN parseResponse — as the service does.
#include <cstddef>
#include <cstdint>

#include "libs/crypto/crypto.h"
#include "libs/wire/demux.h"
#include "libs/wire/disco.h"
#include "libs/wire/stun.h"

using namespace tnet;

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const disco::DiscoPrivate myPriv = [] {
    crypto::init();
    crypto::Key32 k;
    k.fill(0x04);  // the vectors' disco key B, so seeded disco packets open
    return disco::DiscoPrivate::fromSpan(k);
  }();
  ByteSpan in(data, size);
  demux::Datagram d = demux::classifyDatagram(in);
  demux::GoClassification go = demux::packetLooksLike(in);
  FUZZ_CHECK(d.geneve == go.geneve);
  FUZZ_CHECK(d.inner.data() >= in.data() && d.inner.data() + d.inner.size() == in.data() + in.size());
  switch (d.kind) {
    case demux::Kind::STUN:
      FUZZ_CHECK(go.kind == demux::LooksLike::STUN_BINDING && stun::isStun(d.inner));
      (void)stun::parseResponse(d.inner);
      break;
    case demux::Kind::DISCO:
      FUZZ_CHECK(go.kind == demux::LooksLike::DISCO && disco::hasDiscoHeader(d.inner));
      (void)disco::openMessage(d.inner, myPriv);
      break;
    case demux::Kind::WIREGUARD:
      FUZZ_CHECK(go.kind == demux::LooksLike::WIREGUARD && d.wgType != demux::WgType::NONE);
      FUZZ_CHECK(demux::wireGuardType(d.inner) == d.wgType);
      break;
    case demux::Kind::UNKNOWN:
      FUZZ_CHECK(go.kind == demux::LooksLike::WIREGUARD && d.wgType == demux::WgType::NONE);
      break;
  }
  return 0;
}
