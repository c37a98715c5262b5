@0xad951d4e61a7926d;
# wgd's bus interface (ARCHITECTURE.md §Keys, §Packets). wgd holds the node private key and
# answers only operations on it: public keys, commit/discard, the DERP ClientInfo seal.
#
# Packet pipes (libs/bus/data_pipe.h), one packet per pipe message:
#   magicsockd -> wgd   [32 B peer node public key, all zero = unknown]
#                       [1 B path: 0 = UDP, 1 = DERP]
#                       [16 B outer source IP (IPv4 as ::ffff:a.b.c.d); zero for DERP]
#                       [2 B big-endian outer source port; for DERP the region id]
#                       [WireGuard datagram]                     (51-byte header)
#   wgd -> magicsockd   [32 B peer node public key][WireGuard datagram]
#   netstackd <-> wgd   a plaintext IP packet, nothing else

using Cxx = import "/capnp/c++.capnp";
using Common = import "common.capnp";
$Cxx.namespace("tnet::schema");

struct WgPeer {
  nodePublic @0 :Text;          # nodekey:
  allowedIps @1 :List(Text);    # prefixes
}

# wgd.setConfig (ipnd only) -> Common.ConfigAck.
struct WgConfig {
  generation @0 :Common.Generation;
  addresses @1 :List(Text);     # this node's tailnet prefixes (TSMP replies come from these)
  peers @2 :List(WgPeer);
}

# wgd.prepareNodeKey (ipnd only): Common.Empty -> NodeKey (the pending key; an existing pending
# key is returned again). wgd.commitNodeKey (ipnd only): NodeKey -> Common.Empty (fails when
# nodePublic is neither pending nor current). wgd.discardPendingKey: Common.Empty -> Common.Empty.
struct NodeKey {
  nodePublic @0 :Text;
}

# Event wgd.nodekey (retained).
struct NodeKeyState {
  current @0 :Text;             # committed node public key ("" before the first commit)
  pending @1 :Text;             # "" = none
  commits @2 :UInt64;           # +1 per commit (magicsockd reconnects DERP, controld re-polls)
}

# wgd.derpClientInfo (magicsockd only): wgd builds the ClientInfo JSON itself and seals it to the
# DERP server's key with the node key. The reply's `frame` is the whole frameClientInfo payload:
# node public key (32) || nonce (24) || box.
struct DerpClientInfoParams {
  serverPublic @0 :Data;        # 32 bytes, from the DERP ServerKey frame
}
struct DerpClientInfoReply {
  frame @0 :Data;
  nodePublic @1 :Text;          # the key the frame was sealed with
}

struct WgPeerStatus {
  nodePublic @0 :Text;
  lastHandshakeUnixNano @1 :Int64;   # 0 = never
  rxBytes @2 :UInt64;
  txBytes @3 :UInt64;
  state @4 :Text;               # "none", "handshaking", "established", "expired"
  removed @5 :Bool;             # the peer left the config
}

# Event wgd.peers (retained): at most 1 Hz, only when something changed. wgd publishes the
# complete list with `full` set (the retained value must be complete for late subscribers);
# a reader must still accept `full = false` as a partial update with `removed` entries.
struct WgPeers {
  full @0 :Bool;
  peers @1 :List(WgPeerStatus);
}

# Event wgd.discoAdvert: a TSMP disco-key advertisement received from a peer, for magicsockd.
struct DiscoAdvert {
  fromNodePublic @0 :Text;
  discoPublic @1 :Text;
}

# wgd.ping (ipnd only): a TSMP or ICMP echo ping to a tailnet IP, originated by wgd below
# netstackd (Go's userspaceEngine sendTSMPPing / sendICMPEchoRequest). The source is our own
# address of the same family from WgConfig.addresses; the peer is the AllowedIPs owner of `ip`.
# The reply comes when the matching pong / echo reply arrives. Ping outcomes (no peer, no self
# address of that family, no answer within timeoutMs) are `err` texts; malformed params fail
# `invalid`.
enum WgPingKind {
  tsmp @0;
  icmp @1;
}
struct WgPingParams {
  ip @0 :Text;
  kind @1 :WgPingKind;
  timeoutMs @2 :UInt32;         # 0 = wgd's default (10 s, Go's expiry); capped at 60 s
}
struct WgPingReply {
  err @0 :Text;                 # "" = answered
  latencyNs @1 :Int64;
  peerApiPort @2 :UInt16;       # TSMP pong's peerapi port (0 = none)
  nodePublic @3 :Text;          # the peer the ping was sent to ("" when none)
}
