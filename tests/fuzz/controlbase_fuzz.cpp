// Fuzzes the controlbase (ts2021 Noise) parsers with the fixed keys of
// ts2021-controlbase-kat.json. The first input byte picks the entry point:
//   0: the server reading an initiation (as from the X-Tailscale-Handshake header)
//   1: the client reading the server's reply; after a valid response, the rest is fed to the
//      new session as transport records
//   2: a record stream (client->server key), delivered in chunks of the size in byte 1
//   3: seal then open the rest: the plaintext must come back unchanged
//   4: the ts2021 early payload reader on decrypted plaintext, in chunks of the size in byte 1
//   5: the /key reply parser
// Nothing may crash; errors must be errors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "libs/crypto/crypto.h"
#include "libs/wire/controlbase.h"
#include "libs/wire/controlbase_early.h"
#include "libs/wire/controlbase_key.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

using tnet::Bytes;
using tnet::ByteSpan;
using tnet::crypto::SecretKey32;
namespace cb = tnet::controlbase;

Bytes run(uint8_t first) {
  Bytes b(32);
  for (size_t i = 0; i < b.size(); ++i) b[i] = uint8_t(first + i);
  return b;
}

struct Fixture {
  tnet::key::MachinePrivate machine = tnet::key::MachinePrivate::fromSpan(run(0x00));
  SecretKey32 clientEphemeral = SecretKey32::fromSpan(run(0x20));
  tnet::key::MachinePrivate control = tnet::key::MachinePrivate::fromSpan(run(0x40));
  SecretKey32 controlEphemeral = SecretKey32::fromSpan(run(0x60));
  // client_tx_key of the vector file.
  SecretKey32 recordKey = SecretKey32::fromSpan(
      *tnet::hexDecode("1ffa520b7b784b83355f4ca5754d333f51f53ff31d9d98f697c22e8f79b66e22"));
};

const Fixture& fixture() {
  static const Fixture* f = new Fixture();
  return *f;
}

void feedInChunks(cb::RecordOpener& rx, ByteSpan in, size_t chunk) {
  Bytes out;
  while (!in.empty()) {
    const size_t n = chunk == 0 ? in.size() : std::min(chunk, in.size());
    auto r = rx.open(in.first(n), out);
    if (!r) {
      FUZZ_CHECK(rx.broken());
      return;
    }
    FUZZ_CHECK(rx.buffered() < cb::MAX_MESSAGE_SIZE);
    in = in.subspan(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tnet::crypto::init();
  (void)fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Fixture& f = fixture();
  const uint8_t mode = data[0] % 6;
  ByteSpan in(data + 1, size - 1);
  switch (mode) {
    case 0: {
      auto out = cb::ServerHandshake::accept(f.control, in);
      FUZZ_CHECK(out.accepted.has_value() != out.refused.has_value());
      if (out.accepted) FUZZ_CHECK(out.accepted->response.size() == cb::RESPONSE_LEN);
      break;
    }
    case 1: {
      auto ch = cb::ClientHandshake::startForTest(f.machine, f.control.publicKey(), 145, f.clientEphemeral);
      FUZZ_CHECK(ch.has_value());
      auto p = ch->receive(in);
      if (!p) break;
      if (!p->session) {
        FUZZ_CHECK(p->needed > in.size());
        break;
      }
      feedInChunks(p->session->opener(), in.subspan(p->consumed), 0);
      break;
    }
    case 2: {
      if (in.empty()) break;
      cb::RecordOpener rx(f.recordKey.clone());
      feedInChunks(rx, in.subspan(1), in[0]);
      break;
    }
    case 3: {
      cb::RecordSealer tx(f.recordKey.clone());
      cb::RecordOpener rx(f.recordKey.clone());
      Bytes wire, back;
      FUZZ_CHECK(tx.seal(in, wire).has_value());
      FUZZ_CHECK(rx.open(wire, back).has_value());
      FUZZ_CHECK(back.size() == in.size() && std::equal(back.begin(), back.end(), in.begin()));
      break;
    }
    case 4: {
      if (in.empty()) break;
      const size_t chunk = in[0] == 0 ? in.size() : in[0];
      in = in.subspan(1);
      cb::EarlyPayloadReader reader(1 << 16);
      Bytes stream;
      size_t fed = 0;
      while (!in.empty()) {
        const size_t n = std::min(chunk, in.size());
        if (!reader.feed(in.first(n), stream)) break;
        fed += n;
        in = in.subspan(n);
      }
      FUZZ_CHECK(stream.size() <= fed);
      break;
    }
    case 5: {
      auto keys = cb::parseServerKeyResponse(in);
      if (keys) {
        auto noise = cb::noiseKeyOf(*keys);
        FUZZ_CHECK(noise.has_value() == !keys->publicKey.isZero());
      }
      break;
    }
  }
  return 0;
}
