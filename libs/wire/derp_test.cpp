#include "libs/wire/derp.h"

#include <gtest/gtest.h>

#include <cstring>

#include "libs/wire/derp_frame_reader.h"
#include "libs/wire/derp_info.h"
#include "libs/wire/derp_vectors_test.h"

namespace tnet::derp {
namespace {

NodePrivate keyFill(uint8_t b) {
  crypto::Key32 k;
  k.fill(b);
  return NodePrivate::fromSpan(k);
}

NodePublic pubOf(const NodePrivate& priv) {
  return priv.publicKey();
}

NodePublic keyRun(uint8_t from) {  // from, from+1, … (the vectors' "a0..bf")
  crypto::Key32 k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(from + i);
  return NodePublic(k);
}

const Bytes DEADBEEF = {0xde, 0xad, 0xbe, 0xef};
const PingData PING_DATA = {1, 2, 3, 4, 5, 6, 7, 8};

// Reads every frame from `stream` fed in pieces of `chunk` bytes; fails the test on error.
std::vector<std::pair<FrameType, Bytes>> readAll(ReaderRole role, ByteSpan stream, size_t chunk) {
  FrameReader reader(role);
  std::vector<std::pair<FrameType, Bytes>> frames;
  for (size_t at = 0; at < stream.size(); at += chunk) {
    ByteSpan in = stream.subspan(at, std::min(chunk, stream.size() - at));
    for (;;) {
      auto r = reader.next(in);
      EXPECT_TRUE(r) << r.error().message;
      if (!r || !*r) break;
      frames.emplace_back((*r)->type, Bytes((*r)->payload.begin(), (*r)->payload.end()));
    }
    EXPECT_TRUE(in.empty());
  }
  EXPECT_EQ(reader.bufferedBytes(), 0u);
  return frames;
}

Frame frameOf(const Bytes& wire) {
  EXPECT_GE(wire.size(), FRAME_HEADER_LEN);
  return Frame{FrameType(wire[0]), ByteSpan(wire).subspan(FRAME_HEADER_LEN)};
}

TEST(DerpKat, HandshakeFramesMatchVectors) {
  TNET_LOAD_KAT_OR_SKIP(kat);
  crypto::init();
  const NodePrivate serverPriv = keyFill(0x01), clientPriv = keyFill(0x02);
  const NodePublic serverPub = pubOf(serverPriv), clientPub = pubOf(clientPriv);
  EXPECT_EQ(serverPub.untypedHex(), hexEncode(testvec::hexAfter(kat, "derp_raw", "server pub")));
  EXPECT_EQ(clientPub.untypedHex(), hexEncode(testvec::hexAfter(kat, "derp_raw", "client pub")));

  Bytes serverKey;
  appendServerKey(serverKey, serverPub);
  const Bytes wantServerKey = testvec::hexAfter(kat, "derp_raw", "ServerKey frame");
  EXPECT_EQ(hexEncode(serverKey), hexEncode(wantServerKey));
  auto gotServerPub = parseServerKey(frameOf(wantServerKey));
  ASSERT_TRUE(gotServerPub) << gotServerPub.error().message;
  EXPECT_EQ(*gotServerPub, serverPub);

  std::array<uint8_t, NONCE_LEN> nonce;
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = uint8_t(i);
  ClientInfo ci;
  ci.version = PROTOCOL_VERSION;
  ci.canAckPings = true;
  EXPECT_EQ(marshalClientInfo(ci), R"({"version":2,"CanAckPings":true})");
  Bytes clientInfo;
  ASSERT_TRUE(appendClientInfo(clientInfo, ci, clientPriv, serverPub, nonce));
  const Bytes wantClientInfo = testvec::hexAfter(kat, "derp_raw", "ClientInfo frame");
  EXPECT_EQ(hexEncode(clientInfo), hexEncode(wantClientInfo));
  auto opened = openClientInfo(frameOf(wantClientInfo), serverPriv);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->clientKey, clientPub);
  EXPECT_TRUE(opened->info == ci);

  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = uint8_t(0x18 + i);
  ServerInfo si;
  si.version = PROTOCOL_VERSION;
  EXPECT_EQ(marshalServerInfo(si), R"({"version":2})");
  Bytes serverInfo;
  ASSERT_TRUE(appendServerInfo(serverInfo, si, serverPriv, clientPub, nonce));
  const Bytes wantServerInfo = testvec::hexAfter(kat, "derp_raw", "ServerInfo frame");
  EXPECT_EQ(hexEncode(serverInfo), hexEncode(wantServerInfo));
  auto msg = decodeServerFrame(frameOf(wantServerInfo));
  ASSERT_TRUE(std::holds_alternative<ServerInfoSealed>(msg));
  auto gotSi = openServerInfo(std::get<ServerInfoSealed>(msg).sealed, clientPriv, serverPub);
  ASSERT_TRUE(gotSi) << gotSi.error().message;
  EXPECT_EQ(*gotSi, si);
}

TEST(DerpKat, DataAndControlFramesMatchVectors) {
  TNET_LOAD_KAT_OR_SKIP(kat);
  const NodePublic peer = keyRun(0xa0);
  Bytes b;
  ASSERT_TRUE(appendSendPacket(b, peer, DEADBEEF));
  EXPECT_EQ(hexEncode(b), hexEncode(testvec::hexAfter(kat, "derp_raw", "SendPacket(dst=a0..bf, deadbeef)")));
  b.clear();
  ASSERT_TRUE(appendRecvPacket(b, peer, DEADBEEF));
  EXPECT_EQ(hexEncode(b), hexEncode(testvec::hexAfter(kat, "derp_raw", "RecvPacket(src=a0..bf, deadbeef)")));
  b.clear();
  appendKeepAlive(b);
  EXPECT_EQ(hexEncode(b), hexEncode(testvec::hexAfter(kat, "derp_raw", "KeepAlive")));
  b.clear();
  appendNotePreferred(b, true);
  EXPECT_EQ(hexEncode(b), hexEncode(testvec::hexAfter(kat, "derp_raw", "NotePreferred(true)")));
  b.clear();
  appendPeerGone(b, peer, PeerGoneReason::NOT_HERE);
  EXPECT_EQ(hexEncode(b), hexEncode(testvec::hexAfter(kat, "derp_raw", "PeerGone(a0..bf, NotHere)")));
  b.clear();
  appendPing(b, PING_DATA);
  EXPECT_EQ(hexEncode(b), hexEncode(testvec::hexAfter(kat, "derp_raw", "Ping ")));
  b.clear();
  appendPong(b, PING_DATA);
  EXPECT_EQ(hexEncode(b), hexEncode(testvec::hexAfter(kat, "derp_raw", "Pong ")));
  b.clear();
  appendRestarting(b, 5000, 10000);
  EXPECT_EQ(hexEncode(b), hexEncode(testvec::hexAfter(kat, "derp_raw", "Restarting(5000,10000)")));
}

// Every vector frame, concatenated, read back byte by byte and in odd-sized chunks.
TEST(DerpFrameReader, VectorStreamInAnyChunkingDecodesTheSame) {
  TNET_LOAD_KAT_OR_SKIP(kat);
  const char* labels[] = {"ServerKey frame", "ServerInfo frame",          "RecvPacket(src=a0..bf, deadbeef)",
                          "KeepAlive",       "PeerGone(a0..bf, NotHere)", "Ping ",
                          "Pong ",           "Restarting(5000,10000)"};
  Bytes stream;
  for (const char* l : labels) {
    Bytes f = testvec::hexAfter(kat, "derp_raw", l);
    stream.insert(stream.end(), f.begin(), f.end());
  }
  auto whole = readAll(ReaderRole::CLIENT, stream, stream.size());
  ASSERT_EQ(whole.size(), std::size(labels));
  for (size_t chunk : {size_t(1), size_t(2), size_t(3), size_t(5), size_t(7), size_t(41), size_t(64)}) {
    auto got = readAll(ReaderRole::CLIENT, stream, chunk);
    EXPECT_EQ(got, whole) << "chunk " << chunk;
  }
  // Decoded as Go's client would.
  EXPECT_EQ(whole[0].first, FrameType::SERVER_KEY);
  auto rp = decodeServerFrame(Frame{whole[2].first, whole[2].second});
  ASSERT_TRUE(std::holds_alternative<RecvPacket>(rp));
  EXPECT_EQ(std::get<RecvPacket>(rp).source, keyRun(0xa0));
  EXPECT_EQ(Bytes(std::get<RecvPacket>(rp).data.begin(), std::get<RecvPacket>(rp).data.end()), DEADBEEF);
  EXPECT_TRUE(std::holds_alternative<KeepAlive>(decodeServerFrame(Frame{whole[3].first, whole[3].second})));
  auto pg = decodeServerFrame(Frame{whole[4].first, whole[4].second});
  ASSERT_TRUE(std::holds_alternative<PeerGone>(pg));
  EXPECT_EQ(std::get<PeerGone>(pg).reason, PeerGoneReason::NOT_HERE);
  auto ping = decodeServerFrame(Frame{whole[5].first, whole[5].second});
  ASSERT_TRUE(std::holds_alternative<Ping>(ping));
  EXPECT_EQ(std::get<Ping>(ping).data, PING_DATA);
  EXPECT_TRUE(std::holds_alternative<Pong>(decodeServerFrame(Frame{whole[6].first, whole[6].second})));
  auto rs = decodeServerFrame(Frame{whole[7].first, whole[7].second});
  ASSERT_TRUE(std::holds_alternative<Restarting>(rs));
  EXPECT_EQ(std::get<Restarting>(rs).reconnectInMs, 5000u);
  EXPECT_EQ(std::get<Restarting>(rs).tryForMs, 10000u);
}

TEST(DerpFrameReader, WholeFramesAreZeroCopy) {
  Bytes stream;
  ASSERT_TRUE(appendRecvPacket(stream, keyRun(1), DEADBEEF));
  appendKeepAlive(stream);
  FrameReader reader(ReaderRole::CLIENT);
  ByteSpan in = stream;
  auto f = reader.next(in);
  ASSERT_TRUE(f && *f);
  EXPECT_EQ((*f)->payload.data(), stream.data() + FRAME_HEADER_LEN);  // points into the input
  auto k = reader.next(in);
  ASSERT_TRUE(k && *k);
  EXPECT_EQ((*k)->type, FrameType::KEEP_ALIVE);
  EXPECT_TRUE((*k)->payload.empty());
  auto none = reader.next(in);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST(DerpFrameReader, OversizeFrameIsRejectedFromItsHeader) {
  // Client role: anything over 1 MiB; the error comes after 5 header bytes, nothing buffered.
  auto hdr = frameHeader(FrameType::RECV_PACKET, CLIENT_MAX_FRAME_LEN + 1);
  FrameReader reader(ReaderRole::CLIENT);
  ByteSpan in = hdr;
  auto r = reader.next(in);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::INVALID);
  EXPECT_NE(r.error().message.find("exceeds the limit of 1048576"), std::string::npos) << r.error().message;
  EXPECT_EQ(reader.bufferedBytes(), 0u);
  EXPECT_TRUE(reader.failed());
  Bytes more;
  appendKeepAlive(more);
  ByteSpan again = more;
  EXPECT_FALSE(reader.next(again));  // sticky

  // 0xffffffff (Go's MaxLen header test) is refused too.
  auto maxHdr = frameHeader(FrameType::RECV_PACKET, 0xffffffffu);
  FrameReader r2(ReaderRole::CLIENT);
  ByteSpan in2 = maxHdr;
  EXPECT_FALSE(r2.next(in2));

  // Exactly 1 MiB is accepted.
  Bytes big;
  appendFrameHeader(big, FrameType::HEALTH, CLIENT_MAX_FRAME_LEN);
  big.resize(big.size() + CLIENT_MAX_FRAME_LEN, 'x');
  auto frames = readAll(ReaderRole::CLIENT, big, 4096);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].second.size(), CLIENT_MAX_FRAME_LEN);
}

TEST(DerpFrameReader, ClaimedLengthIsNotAllocatedUpFront) {
  Bytes head;
  appendFrameHeader(head, FrameType::HEALTH, CLIENT_MAX_FRAME_LEN);
  head.resize(head.size() + 10, 'x');
  FrameReader reader(ReaderRole::CLIENT);
  ByteSpan in = head;
  auto r = reader.next(in);
  ASSERT_TRUE(r && !*r);
  EXPECT_EQ(reader.bufferedBytes(), 10u);
  EXPECT_LE(reader.bufferCapacity(), 16u << 10);  // not the 1 MiB the header claims
}

TEST(DerpFrameReader, ServerRoleLimitsPerTypeAndSkipsUnknownTypes) {
  struct Case {
    FrameType type;
    uint32_t okLen;
  } cases[] = {
      {FrameType::CLIENT_INFO, SERVER_MAX_CLIENT_INFO_LEN},
      {FrameType::SEND_PACKET, uint32_t(KEY_LEN + MAX_PACKET_SIZE)},
      {FrameType::FORWARD_PACKET, uint32_t(2 * KEY_LEN + MAX_PACKET_SIZE)},
      {FrameType::PING, SERVER_MAX_PING_LEN},
      {FrameType::NOTE_PREFERRED, 1},
      {FrameType::CLOSE_PEER, 32},
      {FrameType::WATCH_CONNS, 0},
  };
  for (const auto& c : cases) {
    FrameReader reader(ReaderRole::SERVER);
    EXPECT_EQ(reader.maxLenFor(c.type), c.okLen);
    auto hdr = frameHeader(c.type, c.okLen + 1);
    ByteSpan in = hdr;
    auto r = reader.next(in);
    ASSERT_FALSE(r) << frameTypeName(c.type);
    EXPECT_NE(r.error().message.find(frameTypeName(c.type)), std::string::npos) << r.error().message;
  }

  // A 20 MB frame of a type the Go server ignores streams past unbuffered; the next frame reads.
  FrameReader reader(ReaderRole::SERVER);
  Bytes head;
  appendFrameHeader(head, FrameType::PONG, 20u << 20);
  Bytes junk(1 << 16, 0x55);
  Bytes tail;
  appendNotePreferred(tail, true);
  ByteSpan in = head;
  auto r = reader.next(in);
  ASSERT_TRUE(r && !*r);
  for (size_t i = 0; i < (20u << 20) / junk.size(); ++i) {
    ByteSpan j = junk;
    auto rr = reader.next(j);
    ASSERT_TRUE(rr && !*rr);
    EXPECT_LE(reader.bufferedBytes(), FRAME_HEADER_LEN);
  }
  ByteSpan t = tail;
  auto f = reader.next(t);
  ASSERT_TRUE(f && *f);
  auto msg = decodeClientFrame(**f);
  ASSERT_TRUE(msg);
  ASSERT_TRUE(std::holds_alternative<NotePreferred>(*msg));
  EXPECT_TRUE(std::get<NotePreferred>(*msg).preferred);
}

TEST(DerpFrames, ClientFramesDecodeAsTheGoServerDoes) {
  const NodePublic a = keyRun(0x10), b = keyRun(0x40);
  Bytes s;
  ASSERT_TRUE(appendSendPacket(s, a, DEADBEEF));
  ASSERT_TRUE(appendForwardPacket(s, a, b, DEADBEEF));
  appendNotePreferred(s, false);
  appendWatchConns(s);
  appendClosePeer(s, b);
  appendPing(s, PING_DATA);
  appendPong(s, PING_DATA);
  auto frames = readAll(ReaderRole::SERVER, s, 3);
  ASSERT_EQ(frames.size(), 6u);  // the Pong is dropped by the SERVER reader, as Go's server loop
  std::vector<ClientMessage> msgs;
  for (auto& [t, p] : frames) {
    auto m = decodeClientFrame(Frame{t, p});
    ASSERT_TRUE(m) << m.error().message;
    msgs.push_back(*m);
  }
  EXPECT_EQ(std::get<SendPacket>(msgs[0]).dst, a);
  EXPECT_EQ(Bytes(std::get<SendPacket>(msgs[0]).data.begin(), std::get<SendPacket>(msgs[0]).data.end()),
            DEADBEEF);
  EXPECT_EQ(std::get<ForwardPacket>(msgs[1]).src, a);
  EXPECT_EQ(std::get<ForwardPacket>(msgs[1]).dst, b);
  EXPECT_FALSE(std::get<NotePreferred>(msgs[2]).preferred);
  EXPECT_TRUE(std::holds_alternative<WatchConns>(msgs[3]));
  EXPECT_EQ(std::get<ClosePeer>(msgs[4]).target, b);
  EXPECT_EQ(std::get<Ping>(msgs[5]).data, PING_DATA);

  // The Go server's fatal size checks.
  auto bad = [](FrameType t, size_t n) {
    Bytes p(n, 0);
    return decodeClientFrame(Frame{t, p});
  };
  EXPECT_FALSE(bad(FrameType::SEND_PACKET, 31));
  EXPECT_TRUE(bad(FrameType::SEND_PACKET, 32));  // an empty packet is allowed
  EXPECT_FALSE(bad(FrameType::SEND_PACKET, 32 + MAX_PACKET_SIZE + 1));
  EXPECT_FALSE(bad(FrameType::FORWARD_PACKET, 63));
  EXPECT_FALSE(bad(FrameType::FORWARD_PACKET, 64 + MAX_PACKET_SIZE + 1));
  EXPECT_FALSE(bad(FrameType::NOTE_PREFERRED, 0));
  EXPECT_FALSE(bad(FrameType::NOTE_PREFERRED, 2));
  EXPECT_FALSE(bad(FrameType::WATCH_CONNS, 1));
  EXPECT_FALSE(bad(FrameType::CLOSE_PEER, 31));
  EXPECT_FALSE(bad(FrameType::PING, 7));
  EXPECT_TRUE(bad(FrameType::PING, 1000));  // extra bytes allowed up to 1000
  EXPECT_FALSE(bad(FrameType::PING, 1001));
  auto unknown = bad(FrameType(0x7e), 3);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(std::get<UnknownFrame>(*unknown).type, FrameType(0x7e));
}

TEST(DerpFrames, ServerFramesDecodeAsTheGoClientDoes) {
  const NodePublic k = keyRun(0x20);
  // PeerPresent: the 51 bytes current servers send, then the shorter forms of older servers.
  Bytes pp;
  appendPeerPresent(pp, k, wire::IpPort::parse("1.2.3.4:5678").value(),
                    PEER_PRESENT_IS_REGULAR | PEER_PRESENT_NOT_IDEAL);
  ASSERT_EQ(pp.size(), FRAME_HEADER_LEN + PEER_PRESENT_LEN);
  EXPECT_EQ(hexEncode(ByteSpan(pp).subspan(0, 5)), "0900000033");
  auto m = decodeServerFrame(frameOf(pp));
  ASSERT_TRUE(std::holds_alternative<PeerPresent>(m));
  auto p = std::get<PeerPresent>(m);
  EXPECT_EQ(p.key, k);
  ASSERT_TRUE(p.ipPort);
  EXPECT_EQ(p.ipPort->toString(), "1.2.3.4:5678");
  EXPECT_EQ(p.flags, 0x09);
  p = std::get<PeerPresent>(decodeServerFrame(Frame{FrameType::PEER_PRESENT, ByteSpan(pp).subspan(5, 50)}));
  ASSERT_TRUE(p.ipPort);
  EXPECT_EQ(p.flags, 0);
  p = std::get<PeerPresent>(decodeServerFrame(Frame{FrameType::PEER_PRESENT, ByteSpan(pp).subspan(5, 49)}));
  EXPECT_FALSE(p.ipPort);
  EXPECT_TRUE(std::holds_alternative<Ignored>(
      decodeServerFrame(Frame{FrameType::PEER_PRESENT, ByteSpan(pp).subspan(5, 31)})));

  // PeerGone without a reason byte (old servers) means Disconnected.
  auto g = decodeServerFrame(Frame{FrameType::PEER_GONE, ByteSpan(k.raw())});
  ASSERT_TRUE(std::holds_alternative<PeerGone>(g));
  EXPECT_EQ(std::get<PeerGone>(g).reason, PeerGoneReason::DISCONNECTED);

  Bytes h;
  ASSERT_TRUE(appendHealth(h, "duplicate connection"));
  auto hm = decodeServerFrame(frameOf(h));
  ASSERT_TRUE(std::holds_alternative<Health>(hm));
  EXPECT_EQ(std::get<Health>(hm).problem, "duplicate connection");
  h.clear();
  ASSERT_TRUE(appendHealth(h, ""));
  EXPECT_EQ(std::get<Health>(decodeServerFrame(frameOf(h))).problem, "");

  // Short frames Go's client drops (and logs), and frames it skips.
  Bytes seven(7, 0);
  for (FrameType t : {FrameType::PING, FrameType::PONG, FrameType::RESTARTING}) {
    EXPECT_TRUE(std::holds_alternative<Ignored>(decodeServerFrame(Frame{t, seven}))) << frameTypeName(t);
  }
  EXPECT_TRUE(std::holds_alternative<Ignored>(
      decodeServerFrame(Frame{FrameType::RECV_PACKET, ByteSpan(k.raw()).first(31)})));
  EXPECT_TRUE(
      std::holds_alternative<Ignored>(decodeServerFrame(Frame{FrameType::SERVER_KEY, ByteSpan(k.raw())})));
  EXPECT_TRUE(std::holds_alternative<Ignored>(decodeServerFrame(Frame{FrameType(0x33), ByteSpan()})));
  // A RecvPacket with an empty packet is still a packet.
  auto rp = decodeServerFrame(Frame{FrameType::RECV_PACKET, ByteSpan(k.raw())});
  ASSERT_TRUE(std::holds_alternative<RecvPacket>(rp));
  EXPECT_TRUE(std::get<RecvPacket>(rp).data.empty());
}

TEST(DerpFrames, WritersRefuseOversizePackets) {
  Bytes big(MAX_PACKET_SIZE + 1, 0);
  Bytes out;
  EXPECT_FALSE(appendSendPacket(out, keyRun(0), big));
  EXPECT_FALSE(appendRecvPacket(out, keyRun(0), big));
  EXPECT_FALSE(appendForwardPacket(out, keyRun(0), keyRun(1), big));
  EXPECT_FALSE(packetFramePrefix(FrameType::SEND_PACKET, keyRun(0), big.size()));
  EXPECT_TRUE(out.empty());
  big.pop_back();
  EXPECT_TRUE(appendSendPacket(out, keyRun(0), big));
  EXPECT_EQ(out.size(), FRAME_HEADER_LEN + KEY_LEN + MAX_PACKET_SIZE);
  auto prefix = packetFramePrefix(FrameType::SEND_PACKET, keyRun(0), big.size());
  ASSERT_TRUE(prefix);
  EXPECT_EQ(hexEncode(*prefix), hexEncode(ByteSpan(out).first(prefix->size())));
}

TEST(DerpFrames, ServerKeyGreetingChecks) {
  const NodePublic pub = keyRun(0x30);
  Bytes good;
  appendServerKey(good, pub);
  Bytes longer = good;  // future servers may append bytes
  longer.push_back(0xaa);
  EXPECT_TRUE(parseServerKey(Frame{FrameType::SERVER_KEY, ByteSpan(longer).subspan(5)}));
  EXPECT_FALSE(parseServerKey(Frame{FrameType::SERVER_KEY, ByteSpan(good).subspan(5, 39)}));
  EXPECT_FALSE(parseServerKey(Frame{FrameType::SERVER_INFO, ByteSpan(good).subspan(5)}));
  Bytes badMagic = good;
  badMagic[5 + 7] ^= 1;
  EXPECT_FALSE(parseServerKey(Frame{FrameType::SERVER_KEY, ByteSpan(badMagic).subspan(5)}));
  Bytes huge(SERVER_KEY_MAX_LEN + 1, 0);
  std::memcpy(huge.data(), MAGIC, sizeof(MAGIC));
  EXPECT_FALSE(parseServerKey(Frame{FrameType::SERVER_KEY, huge}));
}

// A whole DERP session through the codecs alone: greeting, authenticated handshake, a packet from
// A to B relayed by the server, the server's ping answered, and B leaving.
TEST(DerpSession, HandshakeAndRelayThroughTheCodecs) {
  crypto::init();
  const NodePrivate serverPriv = NodePrivate::generate(), aPriv = NodePrivate::generate(),
                    bPriv = NodePrivate::generate();
  const NodePublic serverPub = serverPriv.publicKey(), aPub = aPriv.publicKey(), bPub = bPriv.publicKey();
  FrameReader aReads(ReaderRole::CLIENT), serverReadsA(ReaderRole::SERVER), bReads(ReaderRole::CLIENT);
  auto one = [](FrameReader& r, const Bytes& wire) {
    ByteSpan in = wire;
    auto f = r.next(in);
    EXPECT_TRUE(f && *f && in.empty());
    return f && *f ? std::make_pair((*f)->type, Bytes((*f)->payload.begin(), (*f)->payload.end()))
                   : std::make_pair(FrameType(0), Bytes{});
  };

  Bytes toA;
  appendServerKey(toA, serverPub);
  auto [t1, p1] = one(aReads, toA);
  auto learned = parseServerKey(Frame{t1, p1});
  ASSERT_TRUE(learned);
  ASSERT_EQ(*learned, serverPub);

  ClientInfo info;
  info.version = PROTOCOL_VERSION;
  info.canAckPings = true;
  Bytes toServer;
  ASSERT_TRUE(appendClientInfo(toServer, info, aPriv, *learned));
  auto [t2, p2] = one(serverReadsA, toServer);
  auto hello = openClientInfo(Frame{t2, p2}, serverPriv);
  ASSERT_TRUE(hello) << hello.error().message;
  EXPECT_EQ(hello->clientKey, aPub);  // authenticated: only A's private key seals this
  EXPECT_TRUE(hello->info.canAckPings);

  toA.clear();
  ASSERT_TRUE(appendServerInfo(toA, ServerInfo{PROTOCOL_VERSION, 0, 0}, serverPriv, hello->clientKey));
  auto [t3, p3] = one(aReads, toA);
  auto sealed = decodeServerFrame(Frame{t3, p3});
  ASSERT_TRUE(std::holds_alternative<ServerInfoSealed>(sealed));
  auto si = openServerInfo(std::get<ServerInfoSealed>(sealed).sealed, aPriv, *learned);
  ASSERT_TRUE(si);
  EXPECT_EQ(si->version, PROTOCOL_VERSION);

  toServer.clear();
  const Bytes packet = {0x04, 0, 0, 0, 1, 2, 3, 4};
  ASSERT_TRUE(appendSendPacket(toServer, bPub, packet));
  auto [t4, p4] = one(serverReadsA, toServer);
  auto send = decodeClientFrame(Frame{t4, p4});
  ASSERT_TRUE(send);
  auto& sp = std::get<SendPacket>(*send);
  ASSERT_EQ(sp.dst, bPub);
  Bytes toB;
  ASSERT_TRUE(appendRecvPacket(toB, hello->clientKey, sp.data));
  auto [t5, p5] = one(bReads, toB);
  auto recv = decodeServerFrame(Frame{t5, p5});
  ASSERT_TRUE(std::holds_alternative<RecvPacket>(recv));
  EXPECT_EQ(std::get<RecvPacket>(recv).source, aPub);
  EXPECT_EQ(Bytes(std::get<RecvPacket>(recv).data.begin(), std::get<RecvPacket>(recv).data.end()), packet);

  toA.clear();
  appendPing(toA, PING_DATA);
  auto [t6, p6] = one(aReads, toA);
  auto ping = decodeServerFrame(Frame{t6, p6});
  ASSERT_TRUE(std::holds_alternative<Ping>(ping));
  toServer.clear();
  appendPong(toServer, std::get<Ping>(ping).data);
  ByteSpan pongIn = toServer;
  auto pong = serverReadsA.next(pongIn);  // the Go server ignores a client's Pong
  ASSERT_TRUE(pong);
  EXPECT_FALSE(*pong);
  EXPECT_TRUE(pongIn.empty());

  toA.clear();
  appendPeerGone(toA, bPub, PeerGoneReason::DISCONNECTED);
  auto [t7, p7] = one(aReads, toA);
  auto gone = decodeServerFrame(Frame{t7, p7});
  ASSERT_TRUE(std::holds_alternative<PeerGone>(gone));
  EXPECT_EQ(std::get<PeerGone>(gone).peer, bPub);
}

TEST(DerpInfo, ClientInfoJsonMatchesGo) {
  ClientInfo ci;
  EXPECT_EQ(marshalClientInfo(ci), R"({"CanAckPings":false})");
  ci.meshKey = crypto::SecretKey32::fromSpan(keyRun(0).raw());
  ci.version = 2;
  ci.canAckPings = true;
  ci.isProber = true;
  ci.appName = "a<b>&\"c\"\n\x01\xff\u2028é";
  EXPECT_EQ(
      marshalClientInfo(ci),
      R"({"meshKey":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","version":2,)"
      R"("CanAckPings":true,"IsProber":true,"AppName":"a\u003cb\u003e\u0026\"c\"\n\u0001\ufffd\u2028é"})");
  auto back = unmarshalClientInfo(marshalClientInfo(ci));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->meshKey == ci.meshKey);
  EXPECT_TRUE(back->isProber);
}

TEST(DerpInfo, ClientInfoUnmarshalAsGo) {
  const char* mesh = "6d529e9d4ef632d22d4a4214cb49da8f1ba1b72697061fb24e312984c35ec8d8";
  auto empty = unmarshalClientInfo("{}");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(*empty == ClientInfo{});
  for (const char* json : {R"({"Version":5,"MeshKey":"%s"})", R"({"version":5,"meshKey":"%s"})",
                           R"({"VERSION":5,"MESHKEY":"%s","unknown":[1,{"x":null}]})"}) {
    char buf[256];
    std::snprintf(buf, sizeof buf, json, mesh);
    auto r = unmarshalClientInfo(buf);
    ASSERT_TRUE(r) << buf << ": " << r.error().message;
    EXPECT_EQ(r->version, 5);
    EXPECT_EQ(hexEncode(r->meshKey.bytes()), mesh);
  }
  for (const char* json :
       {R"({"version":5,"meshKey":"abcdefg"})",
        R"({"version":5,"meshKey":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"})",
        R"({"meshKey":null})", R"({"meshKey":""})",
        R"({"meshKey":"zz529e9d4ef632d22d4a4214cb49da8f1ba1b72697061fb24e312984c35ec8d8"})"}) {
    auto r = unmarshalClientInfo(json);
    ASSERT_FALSE(r) << json;
    EXPECT_NE(r.error().message.find("invalid mesh key"), std::string::npos) << json;
  }
  auto upper = unmarshalClientInfo(
      R"({"meshKey":"6D529E9D4EF632D22D4A4214CB49DA8F1BA1B72697061FB24E312984C35EC8D8"})");
  ASSERT_TRUE(upper);
  EXPECT_EQ(hexEncode(upper->meshKey.bytes()), mesh);
  for (const char* json : {R"({"version":"2"})", R"({"version":2.5})", R"({"version":2e0})",
                           R"({"version":9223372036854775808})", R"({"CanAckPings":1})", R"({"AppName":3})",
                           "[]", "2", "{", R"({"version":2} x)", ""}) {
    EXPECT_FALSE(unmarshalClientInfo(json)) << json;
  }
  auto nul = unmarshalClientInfo("null");  // Go: a no-op, not an error
  ASSERT_TRUE(nul);
  auto nullFields = unmarshalClientInfo(R"({"version":null,"CanAckPings":null,"AppName":null})");
  ASSERT_TRUE(nullFields);
  EXPECT_TRUE(*nullFields == ClientInfo{});
  auto neg = unmarshalClientInfo(R"({"version":-3,"canackpings":true,"isprober":true,"appname":"x"})");
  ASSERT_TRUE(neg);
  EXPECT_EQ(neg->version, -3);
  EXPECT_TRUE(neg->canAckPings);
  EXPECT_TRUE(neg->isProber);
  EXPECT_EQ(neg->appName, "x");
}

TEST(DerpInfo, ClientInfoDecodeOrderAndDepthAsGo) {
  // Members apply in document order, so the last spelling of a key wins (Go).
  auto a = unmarshalClientInfo(R"({"version":1,"Version":2})");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->version, 2);
  auto b = unmarshalClientInfo(R"({"Version":2,"version":1,"version":3})");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->version, 3);
  // Unknown members may hold anything up to Go's nesting limit of 10000 (the object is level 1).
  auto nested = [](size_t depth) {
    return std::string(R"({"x":)") + std::string(depth - 1, '[') + std::string(depth - 1, ']') +
           R"(,"version":2})";
  };
  auto ok = unmarshalClientInfo(nested(10000));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->version, 2);
  auto deep = unmarshalClientInfo(nested(10001));
  ASSERT_FALSE(deep);
  EXPECT_NE(deep.error().message.find("nesting depth"), std::string::npos) << deep.error().message;
  // Far deeper than any stack could recurse: still a clean error (the ClientInfo cap is 256 KiB).
  EXPECT_FALSE(unmarshalClientInfo(nested(120000)));
  // A known member with a nested value is a type error, as in Go.
  EXPECT_FALSE(unmarshalClientInfo(R"({"version":[2]})"));
  EXPECT_FALSE(unmarshalClientInfo(R"({"CanAckPings":{}})"));
}

TEST(DerpInfo, ServerInfoJson) {
  ServerInfo si;
  EXPECT_EQ(marshalServerInfo(si), "{}");
  si = {2, 1000, 2000};
  EXPECT_EQ(marshalServerInfo(si),
            R"({"version":2,"TokenBucketBytesPerSecond":1000,"TokenBucketBytesBurst":2000})");
  auto back = unmarshalServerInfo(marshalServerInfo(si));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, si);
  auto ci = unmarshalServerInfo(R"({"tokenbucketbytespersecond":7})");
  ASSERT_TRUE(ci);
  EXPECT_EQ(ci->tokenBucketBytesPerSecond, 7);
  EXPECT_FALSE(unmarshalServerInfo(R"({"version":true})"));
}

TEST(DerpInfo, OpenClientInfoRejectsBadFrames) {
  crypto::init();
  const NodePrivate serverPriv = keyFill(0x01), clientPriv = keyFill(0x02), otherPriv = keyFill(0x07);
  const NodePublic serverPub = pubOf(serverPriv);
  ClientInfo ci;
  ci.version = 2;
  Bytes f;
  ASSERT_TRUE(appendClientInfo(f, ci, clientPriv, serverPub));
  auto ok = openClientInfo(frameOf(f), serverPriv);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->clientKey, pubOf(clientPriv));

  auto wrongServer = openClientInfo(frameOf(f), otherPriv);
  ASSERT_FALSE(wrongServer);
  EXPECT_EQ(wrongServer.error().kind, ErrorKind::DENIED);

  Bytes claimsOther = f;  // claims a key whose private half did not seal it
  claimsOther[5] ^= 1;
  EXPECT_EQ(openClientInfo(frameOf(claimsOther), serverPriv).error().kind, ErrorKind::DENIED);

  Bytes tampered = f;
  tampered.back() ^= 1;
  EXPECT_EQ(openClientInfo(frameOf(tampered), serverPriv).error().kind, ErrorKind::DENIED);

  EXPECT_FALSE(openClientInfo(Frame{FrameType::SEND_PACKET, ByteSpan(f).subspan(5)}, serverPriv));
  auto shortInfo = openClientInfo(Frame{FrameType::CLIENT_INFO, ByteSpan(f).subspan(5, 55)}, serverPriv);
  ASSERT_FALSE(shortInfo);
  EXPECT_NE(shortInfo.error().message.find("short client info"), std::string::npos);
  Bytes huge(SERVER_MAX_CLIENT_INFO_LEN + 1, 0);
  auto longInfo = openClientInfo(Frame{FrameType::CLIENT_INFO, huge}, serverPriv);
  ASSERT_FALSE(longInfo);
  EXPECT_NE(longInfo.error().message.find("long client info"), std::string::npos);

  // A zero (low-order) client key never opens.
  Bytes zero = f;
  std::memset(zero.data() + 5, 0, 32);
  EXPECT_FALSE(openClientInfo(frameOf(zero), serverPriv));

  // A box that opens but holds bad JSON.
  Bytes junk;
  const std::string notJson = "not json";
  std::array<uint8_t, NONCE_LEN> nonce{};
  appendFrameHeader(junk, FrameType::CLIENT_INFO, uint32_t(32 + 24 + 16 + notJson.size()));
  NodePublic cpub = pubOf(clientPriv);
  junk.insert(junk.end(), cpub.raw().begin(), cpub.raw().end());
  junk.insert(junk.end(), nonce.begin(), nonce.end());
  size_t at = junk.size();
  junk.resize(at + 16 + notJson.size());
  ASSERT_TRUE(crypto::boxSeal(MutableByteSpan(junk).subspan(at),
                              ByteSpan(reinterpret_cast<const uint8_t*>(notJson.data()), notJson.size()),
                              nonce, serverPub.raw(), clientPriv.secret().raw()));
  auto bad = openClientInfo(frameOf(junk), serverPriv);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::INVALID);
}

TEST(DerpInfo, OpenServerInfoChecks) {
  crypto::init();
  const NodePrivate serverPriv = keyFill(0x01), clientPriv = keyFill(0x02);
  const NodePublic serverPub = pubOf(serverPriv), clientPub = pubOf(clientPriv);
  Bytes f;
  ASSERT_TRUE(appendServerInfo(f, ServerInfo{2, 0, 0}, serverPriv, clientPub));
  ByteSpan sealed = ByteSpan(f).subspan(5);
  EXPECT_TRUE(openServerInfo(sealed, clientPriv, serverPub));
  EXPECT_FALSE(openServerInfo(sealed.first(23), clientPriv, serverPub));
  EXPECT_FALSE(openServerInfo(sealed.first(39), clientPriv, serverPub));
  EXPECT_EQ(openServerInfo(sealed, clientPriv, clientPub).error().kind, ErrorKind::DENIED);
  Bytes huge(NONCE_LEN + MAX_INFO_LEN + 1, 0);
  auto r = openServerInfo(huge, clientPriv, serverPub);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("long serverInfo"), std::string::npos);
}

}  // namespace
}  // namespace tnet::derp
