// Fuzzes the DERP codecs the way the DERP client (magicsockd) and our test DERP server use them:
// a byte stream cut into arbitrary pieces through FrameReader, every frame decoded for its role,
// the sealed ClientInfo/ServerInfo opened with fixed keys (the seeds carry the vectors' real
// boxes), and the ClientInfo/ServerInfo JSON decoders on raw bytes (a random box never opens).
//
// Input: byte 0 = mode (low 2 bits: 0 client stream, 1 server stream, 2 JSON decode, 3 AppName
// encode) and chunk-size seed (high 6 bits); the rest is the stream, the JSON text or the name.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "libs/crypto/crypto.h"
#include "libs/wire/derp.h"
#include "libs/wire/derp_frame_reader.h"
#include "libs/wire/derp_info.h"

using namespace tnet;
using namespace tnet::derp;

namespace {

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

NodePrivate filled(uint8_t b) {
  crypto::init();
  crypto::Key32 k;
  k.fill(b);
  return NodePrivate::fromSpan(k);
}

struct Keys {
  NodePrivate serverPriv = filled(0x01);  // the vectors' keys, so seeded boxes open
  NodePrivate clientPriv = filled(0x02);
  NodePublic serverPub = serverPriv.publicKey();
  NodePublic clientPub = clientPriv.publicKey();
};

void checkClientFrame(const Keys& keys, const Frame& f) {
  if (f.type == FrameType::CLIENT_INFO) {
    auto opened = openClientInfo(f, keys.serverPriv);
    if (opened) {
      // Whatever opened must re-marshal to JSON that decodes to the same value.
      auto again = unmarshalClientInfo(marshalClientInfo(opened->info));
      FUZZ_CHECK(again && *again == opened->info);
    }
    return;
  }
  auto m = decodeClientFrame(f);
  if (!m) return;
  if (auto* sp = std::get_if<SendPacket>(&*m)) {
    Bytes re;
    FUZZ_CHECK(appendSendPacket(re, sp->dst, sp->data));
    FUZZ_CHECK(re.size() == FRAME_HEADER_LEN + f.payload.size());
    FUZZ_CHECK(std::memcmp(re.data() + FRAME_HEADER_LEN, f.payload.data(), f.payload.size()) == 0);
  } else if (auto* fp = std::get_if<ForwardPacket>(&*m)) {
    Bytes re;
    FUZZ_CHECK(appendForwardPacket(re, fp->src, fp->dst, fp->data));
    FUZZ_CHECK(re.size() == FRAME_HEADER_LEN + f.payload.size());
  }
}

void checkServerFrame(const Keys& keys, const Frame& f) {
  if (f.type == FrameType::SERVER_KEY) {
    (void)parseServerKey(f);
  }
  ServerMessage m = decodeServerFrame(f);
  if (auto* si = std::get_if<ServerInfoSealed>(&m)) {
    (void)openServerInfo(si->sealed, keys.clientPriv, keys.serverPub);
  } else if (auto* rp = std::get_if<RecvPacket>(&m)) {
    FUZZ_CHECK(rp->data.size() + KEY_LEN == f.payload.size());
  } else if (auto* pp = std::get_if<PeerPresent>(&m)) {
    if (pp->ipPort) (void)pp->ipPort->toString();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Keys keys;
  if (size == 0) return 0;
  const int mode = data[0] & 3;
  const size_t chunk = size_t(data[0] >> 2) + 1;  // 1..64 bytes per read
  ByteSpan rest(data + 1, size - 1);

  if (mode == 2) {
    std::string_view json(reinterpret_cast<const char*>(rest.data()), rest.size());
    if (auto ci = unmarshalClientInfo(json)) {
      auto again = unmarshalClientInfo(marshalClientInfo(*ci));
      FUZZ_CHECK(again && *again == *ci);
    }
    if (auto si = unmarshalServerInfo(json)) {
      auto again = unmarshalServerInfo(marshalServerInfo(*si));
      FUZZ_CHECK(again && *again == *si);
    }
    return 0;
  }
  if (mode == 3) {
    // Go-style string escaping of arbitrary bytes (AppName): always valid JSON; invalid UTF-8
    // becomes U+FFFD once, after which the value round-trips exactly.
    ClientInfo ci;
    ci.appName.assign(reinterpret_cast<const char*>(rest.data()), rest.size());
    auto back = unmarshalClientInfo(marshalClientInfo(ci));
    FUZZ_CHECK(back);
    auto again = unmarshalClientInfo(marshalClientInfo(*back));
    FUZZ_CHECK(again && again->appName == back->appName);
    return 0;
  }

  const ReaderRole role = mode == 0 ? ReaderRole::CLIENT : ReaderRole::SERVER;
  FrameReader reader(role);
  for (size_t at = 0; at < rest.size(); at += chunk) {
    ByteSpan in = rest.subspan(at, std::min(chunk, rest.size() - at));
    for (;;) {
      auto r = reader.next(in);
      if (!r) return 0;  // sticky: the connection would close
      if (!*r) break;
      const Frame& f = **r;
      if (auto max = reader.maxLenFor(f.type)) FUZZ_CHECK(f.payload.size() <= *max);
      if (role == ReaderRole::CLIENT) {
        checkServerFrame(keys, f);
      } else {
        checkClientFrame(keys, f);
      }
    }
    FUZZ_CHECK(in.empty());
  }
  return 0;
}
