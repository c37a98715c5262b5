// DERP frames (derp/derp.go, derp_client.go, derpserver): constants, writers for every frame
// type, and decoders for complete frames in both directions — decodeServerFrame is what Go's
// Client.Recv does with a frame, decodeClientFrame what the Go server's per-type handlers do.
// Decoded messages point into the frame's bytes (zero-copy); they live as long as that buffer.
// The stream reader is derp_frame_reader.h, the sealed ClientInfo/ServerInfo are derp_info.h.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/crypto/crypto.h"
#include "libs/wire/disco_endpoint.h"
#include "libs/wire/keys.h"

namespace tnet::derp {

// DERP addresses clients by node public key; a DERP server's own key pair has the same type
// (Go: key.NodePublic / key.NodePrivate).
using key::NodePrivate;
using key::NodePublic;

constexpr size_t FRAME_HEADER_LEN = 5;  // type[1] || length[4 BE]
constexpr size_t KEY_LEN = 32;
constexpr size_t NONCE_LEN = 24;
constexpr size_t MAX_PACKET_SIZE = 64 << 10;        // data bytes in Send/Recv/ForwardPacket
constexpr size_t MAX_INFO_LEN = 1 << 20;            // ServerInfo JSON, client side
constexpr uint32_t CLIENT_MAX_FRAME_LEN = 1 << 20;  // Go client refuses larger frames
constexpr uint32_t SERVER_MAX_CLIENT_INFO_LEN = 256 << 10;
constexpr uint32_t SERVER_MAX_PING_LEN = 1000;
constexpr uint32_t SERVER_KEY_MAX_LEN = 1 << 10;  // Go client reads the greeting with this cap
constexpr size_t MAX_WRITE_FRAME_LEN = 10 << 20;  // Go's WriteFrame refuses larger
constexpr int PROTOCOL_VERSION = 2;
constexpr uint8_t MAGIC[8] = {0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91};  // "DERP🔑"
constexpr size_t SERVER_KEY_LEN = sizeof(MAGIC) + KEY_LEN;                      // 40
constexpr size_t PEER_PRESENT_LEN = KEY_LEN + 16 + 2 + 1;                       // 51, as sent

enum class FrameType : uint8_t {
  SERVER_KEY = 0x01,
  CLIENT_INFO = 0x02,
  SERVER_INFO = 0x03,
  SEND_PACKET = 0x04,
  RECV_PACKET = 0x05,
  KEEP_ALIVE = 0x06,
  NOTE_PREFERRED = 0x07,
  PEER_GONE = 0x08,
  PEER_PRESENT = 0x09,
  FORWARD_PACKET = 0x0a,
  WATCH_CONNS = 0x10,
  CLOSE_PEER = 0x11,
  PING = 0x12,
  PONG = 0x13,
  HEALTH = 0x14,
  RESTARTING = 0x15,
};
const char* frameTypeName(FrameType t);  // "SendPacket", …, "unknown"

enum class PeerGoneReason : uint8_t {
  DISCONNECTED = 0x00,
  NOT_HERE = 0x01,
  MESH_CONN_BROKE = 0xf0,  // client-internal in Go; never on the wire
};

// PeerPresent flag bits. Zero means an old server that does not send the byte's meaning.
constexpr uint8_t PEER_PRESENT_IS_REGULAR = 1 << 0;
constexpr uint8_t PEER_PRESENT_IS_MESH_PEER = 1 << 1;
constexpr uint8_t PEER_PRESENT_IS_PROBER = 1 << 2;
constexpr uint8_t PEER_PRESENT_NOT_IDEAL = 1 << 3;

using PingData = std::array<uint8_t, 8>;

// A complete frame; payload points into the reader's input or buffer.
struct Frame {
  FrameType type{};
  ByteSpan payload;
};

// ---- writers: append one whole frame to `out` ----
std::array<uint8_t, FRAME_HEADER_LEN> frameHeader(FrameType type, uint32_t len);
void appendFrameHeader(Bytes& out, FrameType type, uint32_t len);
// Any type and payload; refuses payloads over 10 MiB as Go's WriteFrame does.
Result<void> appendFrame(Bytes& out, FrameType type, ByteSpan payload);

void appendServerKey(Bytes& out, const NodePublic& serverPub);
// Data frames refuse packets over MAX_PACKET_SIZE (Go: "packet too big").
Result<void> appendSendPacket(Bytes& out, const NodePublic& dst, ByteSpan packet);
Result<void> appendRecvPacket(Bytes& out, const NodePublic& src, ByteSpan packet);
Result<void> appendForwardPacket(Bytes& out, const NodePublic& src, const NodePublic& dst, ByteSpan packet);
// Header + key of a Send/RecvPacket frame, for scatter-gather writes that leave the packet in
// place: write these 37 bytes, then the packet.
Result<std::array<uint8_t, FRAME_HEADER_LEN + KEY_LEN>> packetFramePrefix(FrameType type,
                                                                          const NodePublic& key,
                                                                          size_t packetLen);
void appendKeepAlive(Bytes& out);
void appendNotePreferred(Bytes& out, bool preferred);
void appendPeerGone(Bytes& out, const NodePublic& peer, PeerGoneReason reason);
void appendPeerPresent(Bytes& out, const NodePublic& peer, const wire::IpPort& ipPort, uint8_t flags);
void appendWatchConns(Bytes& out);
void appendClosePeer(Bytes& out, const NodePublic& target);
void appendPing(Bytes& out, const PingData& data);
void appendPong(Bytes& out, const PingData& data);
Result<void> appendHealth(Bytes& out, std::string_view problem);
void appendRestarting(Bytes& out, uint32_t reconnectInMs, uint32_t tryForMs);

// ---- the server's greeting ----
// As Go's recvServerKey: type ServerKey, length ≥ 40 (more is allowed), magic, then the key.
Result<NodePublic> parseServerKey(const Frame& frame);

// ---- server → client, as Go's Client.Recv ----
struct RecvPacket {
  NodePublic source;
  ByteSpan data;
};
struct KeepAlive {};
struct PeerGone {
  NodePublic peer;
  PeerGoneReason reason = PeerGoneReason::DISCONNECTED;  // missing reason byte means 0
};
struct PeerPresent {
  NodePublic key;
  std::optional<wire::IpPort> ipPort;  // absent from old servers
  uint8_t flags = 0;                   // 0 from servers that do not send it
};
struct Ping {
  PingData data{};
};
struct Pong {
  PingData data{};
};
struct Health {
  std::string problem;  // empty: healthy again
};
struct Restarting {
  uint32_t reconnectInMs = 0;
  uint32_t tryForMs = 0;
};
struct ServerInfoSealed {
  ByteSpan sealed;  // nonce || box; open with derp_info.h openServerInfo
};
// Frames Go's client skips: unknown types, ServerKey after the greeting, and short frames it
// drops with an "[unexpected]" log line. `why` is that reason, for a rate-limited log.
struct Ignored {
  FrameType type{};
  const char* why = "";
};
using ServerMessage = std::variant<RecvPacket, KeepAlive, PeerGone, PeerPresent, Ping, Pong, Health,
                                   Restarting, ServerInfoSealed, Ignored>;
ServerMessage decodeServerFrame(const Frame& frame);

// ---- client → server, as the Go server's handlers ----
struct SendPacket {
  NodePublic dst;
  ByteSpan data;
};
struct ForwardPacket {
  NodePublic src;
  NodePublic dst;
  ByteSpan data;
};
struct NotePreferred {
  bool preferred = false;
};
struct WatchConns {};
struct ClosePeer {
  NodePublic target;
};
// Frame types the Go server discards (anything but the handled ones; includes a second
// ClientInfo and Pong).
struct UnknownFrame {
  FrameType type{};
};
using ClientMessage =
    std::variant<SendPacket, ForwardPacket, NotePreferred, WatchConns, ClosePeer, Ping, UnknownFrame>;
// Errors are the Go server's connection-fatal size checks. Mesh permission (WatchConns,
// ClosePeer, ForwardPacket need a mesh key) is the server's decision, not the codec's.
Result<ClientMessage> decodeClientFrame(const Frame& frame);
// The client→server types the Go server's loop handles (plus ClientInfo, read first).
bool isServerHandledType(FrameType type);

}  // namespace tnet::derp
