#include "libs/wire/controlbase.h"

#include <gtest/gtest.h>

#include "libs/wire/noise_test_util.h"

namespace tnet::controlbase {
namespace {

using crypto::SecretKey32;
using testing::unhex;

Bytes run(uint8_t first) {
  Bytes b(32);
  for (size_t i = 0; i < b.size(); ++i) b[i] = uint8_t(first + i);
  return b;
}

// Keys of ts2021-controlbase-kat.json.
struct KatKeys {
  key::MachinePrivate machine = key::MachinePrivate::fromSpan(run(0x00));
  SecretKey32 clientEphemeral = SecretKey32::fromSpan(run(0x20));
  key::MachinePrivate control = key::MachinePrivate::fromSpan(run(0x40));
  SecretKey32 controlEphemeral = SecretKey32::fromSpan(run(0x60));
};

std::string text(ByteSpan b) {
  return std::string(b.begin(), b.end());
}

struct Established {
  Session client;
  Session server;
};

Established handshake(const KatKeys& k, uint16_t version, bool fixedEphemerals) {
  auto ch = fixedEphemerals
                ? ClientHandshake::startForTest(k.machine, k.control.publicKey(), version, k.clientEphemeral)
                : ClientHandshake::start(k.machine, k.control.publicKey(), version);
  EXPECT_TRUE(ch);
  auto out = fixedEphemerals ? ServerHandshake::acceptForTest(k.control, ch->initiation(), k.controlEphemeral)
                             : ServerHandshake::accept(k.control, ch->initiation());
  EXPECT_TRUE(out.accepted && !out.refused);
  auto progress = ch->receive(out.accepted->response);
  EXPECT_TRUE(progress && progress->session);
  return {std::move(*progress->session), std::move(out.accepted->session)};
}

TEST(Controlbase, Prologue) {
  EXPECT_EQ(prologue(145), "Tailscale Control Protocol v145");
  EXPECT_EQ(prologue(0), "Tailscale Control Protocol v0");
  EXPECT_EQ(prologue(65535), "Tailscale Control Protocol v65535");
}

TEST(Controlbase, KnownAnswerHandshakeBothCapvers) {
  TNET_LOAD_VECTOR_OR_SKIP(v, "ts2021-controlbase-kat.json");
  KatKeys k;
  EXPECT_EQ(k.machine.publicKey().untypedHex(), v["machine_public"].get<std::string>());
  EXPECT_EQ(k.control.publicKey().untypedHex(), v["control_public"].get<std::string>());
  const auto& t = v["transport_same_for_both_capvers"];
  for (uint16_t version : {uint16_t(145), uint16_t(142)}) {
    SCOPED_TRACE(version);
    const auto& c = v["capver" + std::to_string(version)];
    EXPECT_EQ(prologue(version), c["prologue"].get<std::string>());

    auto ch = ClientHandshake::startForTest(k.machine, k.control.publicKey(), version, k.clientEphemeral);
    ASSERT_TRUE(ch) << ch.error().message;
    ASSERT_EQ(ch->initiation().size(), INITIATION_LEN);
    EXPECT_EQ(hexEncode(ch->initiation()), c["initiation"].get<std::string>());
    EXPECT_EQ(hexEncode(ch->initiation().subspan(INITIATION_HEADER_LEN, 32)),
              v["client_ephemeral_public"].get<std::string>());
    EXPECT_EQ(ch->initiationHeaderValue(), c["x_tailscale_handshake"].get<std::string>());
    EXPECT_EQ(ch->initiationHeaderValue().size(), 136u);

    auto out = ServerHandshake::acceptForTest(k.control, ch->initiation(), k.controlEphemeral);
    ASSERT_TRUE(out.accepted) << out.refused->error.message;
    EXPECT_EQ(hexEncode(out.accepted->response), c["response"].get<std::string>());
    EXPECT_EQ(hexEncode(ByteSpan(out.accepted->response).subspan(HEADER_LEN, 32)),
              v["control_ephemeral_public"].get<std::string>());
    Session& server = out.accepted->session;
    EXPECT_EQ(server.peer(), k.machine.publicKey());
    EXPECT_EQ(server.protocolVersion(), version);

    // The response arrives in pieces; nothing is consumed until it is whole.
    Bytes resp = out.accepted->response;
    for (size_t n : {size_t(0), size_t(2), size_t(3), size_t(50)}) {
      auto p = ch->receive(ByteSpan(resp).first(n));
      ASSERT_TRUE(p);
      EXPECT_FALSE(p->session);
      EXPECT_EQ(p->consumed, 0u);
      EXPECT_EQ(p->needed, n < 3 ? 3u : 51u);
    }
    auto p = ch->receive(resp);
    ASSERT_TRUE(p) << p.error().message;
    ASSERT_TRUE(p->session);
    EXPECT_EQ(p->consumed, RESPONSE_LEN);
    Session& client = *p->session;
    EXPECT_EQ(hexEncode(client.handshakeHash()), c["handshake_hash"].get<std::string>());
    EXPECT_EQ(hexEncode(server.handshakeHash()), c["handshake_hash"].get<std::string>());
    EXPECT_EQ(client.peer(), k.control.publicKey());
    EXPECT_FALSE(ch->receive(resp)) << "a finished handshake cannot be reused";

    // Transport records: the handshake's keys equal the vector's keys iff the records match.
    for (const auto& rec : t["records"]) {
      SCOPED_TRACE(rec["record"].get<std::string>());
      const bool c2s = rec["dir"] == "client->server";
      Bytes plain = unhex(rec["plaintext_hex"]);
      Bytes record;
      ASSERT_TRUE((c2s ? client : server).sealer().sealRecord(plain, record));
      EXPECT_EQ(hexEncode(record), rec["record"].get<std::string>());
      Bytes opened;
      ASSERT_TRUE((c2s ? server : client).open(record, opened));
      EXPECT_EQ(opened, plain);
    }
  }
}

TEST(Controlbase, KnownAnswerTransportKeysAndBigEndianCounter) {
  TNET_LOAD_VECTOR_OR_SKIP(v, "ts2021-controlbase-kat.json");
  const auto& t = v["transport_same_for_both_capvers"];
  auto txKey = SecretKey32::fromSpan(unhex(t["client_tx_key"]));
  auto rxKey = SecretKey32::fromSpan(unhex(t["client_rx_key"]));
  RecordSealer clientTx(txKey.clone()), serverTx(rxKey.clone());
  RecordOpener serverRx(txKey.clone()), clientRx(rxKey.clone());
  for (const auto& rec : t["records"]) {
    const bool c2s = rec["dir"] == "client->server";
    ASSERT_EQ((c2s ? clientTx : serverTx).counter(), rec["counter"].get<uint64_t>());
    Bytes record, opened;
    ASSERT_TRUE((c2s ? clientTx : serverTx).sealRecord(unhex(rec["plaintext_hex"]), record));
    EXPECT_EQ(hexEncode(record), rec["record"].get<std::string>());
    ASSERT_TRUE((c2s ? serverRx : clientRx).open(unhex(rec["record"]), opened));
    EXPECT_EQ(opened, unhex(rec["plaintext_hex"]));
  }
  // The little-endian counterfactuals: standard Noise nonces at counter 1. We must not produce
  // them, and a reader at counter 1 must reject them.
  for (const auto& cf : t["must_not_produce_little_endian_counterfactuals"]) {
    const bool c2s = cf["dir"] == "client->server";
    const Bytes bad = unhex(cf["record"]);
    ASSERT_EQ(cf["counter"].get<uint64_t>(), 1u);
    const auto& key = c2s ? txKey : rxKey;
    // Our sealer at counter 1 with the same plaintext: differs.
    Bytes plain(bad.size() - HEADER_LEN - noise::TAG_LEN);
    for (const auto& rec : t["records"]) {
      if (rec["dir"] == cf["dir"] && rec["counter"] == 1) plain = unhex(rec["plaintext_hex"]);
    }
    RecordSealer ours(key.clone(), 1);
    Bytes record;
    ASSERT_TRUE(ours.sealRecord(plain, record));
    EXPECT_NE(hexEncode(record), cf["record"].get<std::string>());
    // The counterfactual really is the little-endian encryption (so this test has teeth).
    noise::CipherState le(key.clone(), noise::NonceOrder::COUNTER_LE, 1);
    Bytes leRecord{MSG_TYPE_RECORD, 0, uint8_t(plain.size() + 16)};
    ASSERT_TRUE(le.encryptWithAd({}, plain, leRecord));
    EXPECT_EQ(hexEncode(leRecord), cf["record"].get<std::string>());
    RecordOpener reader(key.clone(), 1);
    Bytes opened;
    EXPECT_FALSE(reader.open(bad, opened));
    EXPECT_TRUE(opened.empty());
  }
}

TEST(Controlbase, RandomEphemeralsInteroperate) {
  KatKeys k;
  auto a = handshake(k, 145, false);
  auto b = handshake(k, 145, false);
  EXPECT_NE(a.client.handshakeHash(), b.client.handshakeHash()) << "fresh ephemerals per handshake";
  EXPECT_EQ(a.client.handshakeHash(), a.server.handshakeHash());
}

TEST(Controlbase, RecordsAcrossThe4077ByteSplitBothDirections) {
  KatKeys k;
  auto s = handshake(k, 145, false);
  for (size_t size : {size_t(1), size_t(4076), size_t(4077), size_t(4078), size_t(3 * 4077), size_t(20000)}) {
    SCOPED_TRACE(size);
    Bytes plain(size);
    for (size_t i = 0; i < size; ++i) plain[i] = uint8_t(i * 31 + size);
    for (int dir = 0; dir < 2; ++dir) {
      Session& tx = dir == 0 ? s.client : s.server;
      Session& rx = dir == 0 ? s.server : s.client;
      Bytes wire;
      const uint64_t before = tx.sealer().counter();
      ASSERT_TRUE(tx.seal(plain, wire));
      const size_t records = (size + MAX_PLAINTEXT_SIZE - 1) / MAX_PLAINTEXT_SIZE;
      EXPECT_EQ(tx.sealer().counter() - before, records);
      EXPECT_EQ(wire.size(), size + records * (HEADER_LEN + noise::TAG_LEN));
      // Every frame is at most 4096 bytes; full ones exactly that.
      size_t off = 0;
      while (off < wire.size()) {
        ASSERT_EQ(wire[off], MSG_TYPE_RECORD);
        size_t total = HEADER_LEN + getU16BE(&wire[off + 1]);
        ASSERT_LE(total, MAX_MESSAGE_SIZE);
        if (off + total < wire.size()) {
          EXPECT_EQ(total, MAX_MESSAGE_SIZE);
        }
        off += total;
      }
      EXPECT_EQ(off, wire.size());
      // Deliver in awkward pieces (1, 2, 3, 5, 7, ... bytes) to exercise reassembly.
      Bytes got;
      size_t at = 0, step = 1;
      while (at < wire.size()) {
        size_t n = std::min(step, wire.size() - at);
        ASSERT_TRUE(rx.open(ByteSpan(wire).subspan(at, n), got));
        at += n;
        step = step * 2 + 1;
        if (step > 5000) step = 1;
      }
      EXPECT_EQ(rx.opener().buffered(), 0u);
      EXPECT_EQ(got, plain);
    }
  }
  // Empty writes send nothing, as Go's Write.
  Bytes none;
  ASSERT_TRUE(s.client.seal({}, none));
  EXPECT_TRUE(none.empty());
  Bytes tooBig(MAX_PLAINTEXT_SIZE + 1);
  EXPECT_FALSE(s.client.sealer().sealRecord(tooBig, none));
}

TEST(Controlbase, ZeroLengthRecordsAreSkipped) {
  KatKeys k;
  auto s = handshake(k, 142, false);
  Bytes wire, got;
  ASSERT_TRUE(s.server.sealer().sealRecord({}, wire));
  ASSERT_TRUE(s.server.sealer().sealRecord({}, wire));
  ASSERT_TRUE(s.server.seal(Bytes{'o', 'k'}, wire));
  ASSERT_TRUE(s.client.open(wire, got));
  EXPECT_EQ(text(got), "ok");
}

// Each kind of bad record is rejected with a clear, permanent error.
class BadRecord : public ::testing::Test {
 protected:
  void SetUp() override {
    s_.emplace(handshake(k_, 145, false));
    first_.clear();
    second_.clear();
    ASSERT_TRUE(s_->client.seal(Bytes{'o', 'n', 'e'}, first_));
    ASSERT_TRUE(s_->client.seal(Bytes{'t', 'w', 'o'}, second_));
  }
  void expectDead(const Bytes& wire, std::string_view needle) {
    Bytes got;
    auto r = s_->server.open(wire, got);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
    EXPECT_TRUE(s_->server.opener().broken());
    // Permanent: even the right next record is refused now.
    auto again = s_->server.open(first_, got);
    EXPECT_FALSE(again);
  }
  KatKeys k_;
  std::optional<Established> s_;
  Bytes first_, second_;
};

TEST_F(BadRecord, FlippedBitInEveryPosition) {
  for (size_t i = HEADER_LEN; i < first_.size(); ++i) {
    SetUp();
    Bytes bad = first_;
    bad[i] ^= 0x10;
    expectDead(bad, "authentication failed");
  }
}

TEST_F(BadRecord, Replayed) {
  Bytes got;
  ASSERT_TRUE(s_->server.open(first_, got));
  expectDead(first_, "authentication failed");
}

TEST_F(BadRecord, OutOfOrder) {
  expectDead(second_, "authentication failed");
}

TEST_F(BadRecord, Oversized) {
  Bytes bad{MSG_TYPE_RECORD, 0x0f, 0xfe};  // 3 + 4094 = 4097 > 4096
  expectDead(bad, "exceeds max allowed Noise frame size");
  SetUp();
  Bytes max{MSG_TYPE_RECORD, 0xff, 0xff};
  expectDead(max, "65538 bytes exceeds max allowed Noise frame size");
}

TEST_F(BadRecord, WrongType) {
  Bytes bad = first_;
  bad[0] = MSG_TYPE_ERROR;
  expectDead(bad, "unexpected type 3, want 4");
}

TEST_F(BadRecord, ShorterThanTag) {
  Bytes bad{MSG_TYPE_RECORD, 0x00, 0x05, 1, 2, 3, 4, 5};
  expectDead(bad, "shorter than its authentication tag");
}

TEST_F(BadRecord, ValidRecordThenGarbageInOneRead) {
  Bytes wire = first_;
  wire.push_back(0x04);
  wire.push_back(0x00);
  wire.push_back(0x10);
  wire.insert(wire.end(), 16, 0xee);
  Bytes got;
  auto r = s_->server.open(wire, got);
  EXPECT_FALSE(r);
  EXPECT_EQ(text(got), "one") << "records before the bad one were delivered";
}

TEST(Controlbase, NonceExhaustionKillsTheDirection) {
  RecordSealer tx(SecretKey32::random(), noise::MAX_NONCE);
  Bytes out;
  auto r = tx.seal(Bytes{1}, out);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cipher exhausted"), std::string::npos);
  EXPECT_TRUE(out.empty());
  RecordSealer tx2(SecretKey32::random(), noise::MAX_NONCE - 1);
  ASSERT_TRUE(tx2.seal(Bytes{1}, out));
  EXPECT_FALSE(tx2.seal(Bytes{1}, out));
  EXPECT_FALSE(tx2.sealRecord({}, out)) << "broken after the first error";

  auto key = SecretKey32::random();
  RecordSealer last(key.clone(), noise::MAX_NONCE - 1);
  Bytes wire, got;
  ASSERT_TRUE(last.sealRecord(Bytes{7}, wire));
  EXPECT_FALSE(last.sealRecord({}, wire)) << "counter 2^64-1 is never used";
  RecordOpener rx(key.clone(), noise::MAX_NONCE - 1);
  ASSERT_TRUE(rx.open(wire, got));
  EXPECT_EQ(got, Bytes{7});
  EXPECT_FALSE(rx.open(wire, got));
}

TEST(Controlbase, ClientHandlesServerErrorMessages) {
  KatKeys k;
  auto ch = ClientHandshake::start(k.machine, k.control.publicKey(), 145);
  ASSERT_TRUE(ch);
  Bytes err = encodeErrorMessage("wrong handshake initiation size");
  EXPECT_EQ(hexEncode(ByteSpan(err).first(3)), "03001f");
  auto partial = ch->receive(ByteSpan(err).first(10));
  ASSERT_TRUE(partial);
  EXPECT_EQ(partial->needed, err.size());
  auto r = ch->receive(err);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "controlbase: server error: \"wrong handshake initiation size\"");
  // Hostile text is quoted, never passed through.
  auto ch2 = ClientHandshake::start(k.machine, k.control.publicKey(), 145);
  Bytes evil = encodeErrorMessage(std::string("a\nb\x1b[31m\"\\", 10));
  auto r2 = ch2->receive(evil);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().message, "controlbase: server error: \"a\\x0ab\\x1b[31m\\\"\\\\\"");
  EXPECT_EQ(encodeErrorMessage(std::string(70000, 'x')).size(), 3u + 65535u);
}

TEST(Controlbase, ClientRejectsBadResponses) {
  KatKeys k;
  auto good = [&] {
    auto ch = ClientHandshake::start(k.machine, k.control.publicKey(), 145);
    auto out = ServerHandshake::accept(k.control, ch->initiation());
    return std::make_pair(std::move(*ch), out.accepted->response);
  };
  {
    auto [ch, resp] = good();
    resp[0] = 7;
    auto r = ch.receive(resp);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("unexpected response message type 7"), std::string::npos);
  }
  {
    auto [ch, resp] = good();
    resp[2] = 47;
    auto r = ch.receive(resp);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("wrong length 47"), std::string::npos);
  }
  for (size_t i = HEADER_LEN; i < RESPONSE_LEN; i += 5) {
    auto [ch, resp] = good();
    resp[i] ^= 0x40;
    EXPECT_FALSE(ch.receive(resp)) << i;
  }
  {
    // A response from a server that does not hold the control private key.
    auto ch = ClientHandshake::start(k.machine, k.control.publicKey(), 145);
    auto impostor = key::MachinePrivate::generate();
    auto out = ServerHandshake::accept(impostor, ch->initiation());
    EXPECT_FALSE(out.accepted) << "impostor cannot even read the initiation";
  }
  EXPECT_FALSE(ClientHandshake::start(k.machine, key::MachinePublic(), 145));
}

TEST(Controlbase, ServerRefusesMalformedInitiationsLikeGo) {
  KatKeys k;
  auto ch = ClientHandshake::start(k.machine, k.control.publicKey(), 145);
  Bytes init(ch->initiation().begin(), ch->initiation().end());
  auto expectRefusal = [&](const Bytes& bad, std::string_view text) {
    auto out = ServerHandshake::accept(k.control, bad);
    ASSERT_FALSE(out.accepted);
    ASSERT_TRUE(out.refused);
    EXPECT_EQ(out.refused->errorMessage, encodeErrorMessage(text));
    // And our client reports it.
    auto c = ClientHandshake::start(k.machine, k.control.publicKey(), 145);
    auto r = c->receive(out.refused->errorMessage);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(text), std::string::npos);
  };
  expectRefusal(Bytes(init.begin(), init.end() - 1), "wrong handshake initiation size");
  expectRefusal(Bytes{}, "wrong handshake initiation size");
  Bytes badType = init;
  badType[2] = 2;
  expectRefusal(badType, "unexpected handshake message type");
  Bytes badLen = init;
  badLen[4] = 95;
  expectRefusal(badLen, "wrong handshake initiation length");
  // A bit flip in the encrypted part: refused without an error message.
  for (size_t i = INITIATION_HEADER_LEN; i < INITIATION_LEN; i += 9) {
    Bytes bad = init;
    bad[i] ^= 1;
    auto out = ServerHandshake::accept(k.control, bad);
    ASSERT_TRUE(out.refused) << i;
    EXPECT_TRUE(out.refused->errorMessage.empty());
  }
  // A header version that does not match the prologue the client used: the handshake fails
  // (the server builds its prologue from the header version).
  Bytes otherVersion = init;
  otherVersion[1] = 0x8e;  // 142
  auto out = ServerHandshake::accept(k.control, otherVersion);
  EXPECT_TRUE(out.refused);
}

TEST(Controlbase, ServerUsesTheHeaderVersion) {
  KatKeys k;
  for (uint16_t v : {uint16_t(1), uint16_t(142), uint16_t(145), uint16_t(65535)}) {
    auto s = handshake(k, v, false);
    EXPECT_EQ(s.server.protocolVersion(), v);
    EXPECT_EQ(s.client.protocolVersion(), v);
  }
}

}  // namespace
}  // namespace tnet::controlbase
