@0xceceb2a9ef817e24;
# magicsockd's bus interface (docs/magicsock.md). The datagram pipes' framing is in wgd.capnp.

using Cxx = import "/capnp/c++.capnp";
using Common = import "common.capnp";
using Netmap = import "netmap.capnp";
using Control = import "controld.capnp";
$Cxx.namespace("tnet::schema");

struct MsPeer {
  nodePublic @0 :Text;
  discoPublic @1 :Text;         # "" = none: DERP only
  endpoints @2 :List(Text);     # "ip:port" as control advertised them
  homeDerp @3 :Int32;
  online @4 :Bool;
}

# magicsockd.setConfig (ipnd only) -> Common.ConfigAck.
struct MagicsockConfig {
  generation @0 :Common.Generation;
  derpMap @1 :Netmap.DerpMap;
  peers @2 :List(MsPeer);
  wantRunning @3 :Bool;         # false: close DERP connections, stop re-STUN
}

# Event magicsockd.discokey (retained).
struct DiscoKey {
  discoPublic @0 :Text;
}

struct DerpConn {
  regionId @0 :Int32;
  connected @1 :Bool;
  home @2 :Bool;
  lastError @3 :Text;
  connectedSinceUnixMs @4 :Int64;
}

struct RegionLatency {
  regionId @0 :Int32;
  latencyNs @1 :Int64;
}

struct NetcheckReport {
  udp @0 :Bool;
  ipv4 @1 :Bool;
  ipv6 @2 :Bool;
  globalV4 @3 :Text;            # "ip:port" STUN-mapped, "" unknown
  globalV6 @4 :Text;
  mappingVariesByDestIp @5 :Int8;   # -1 unknown, 0 false, 1 true
  preferredDerp @6 :Int32;
  regionLatency @7 :List(RegionLatency);
  regionV4Latency @8 :List(RegionLatency);
  regionV6Latency @9 :List(RegionLatency);
  hairPinning @10 :Int8;        # -1 unknown
  captivePortal @11 :Int8;      # -1 unknown
}

# Event magicsockd.derp (retained): DERP connections, our endpoints and the latest netcheck.
struct DerpState {
  homeRegion @0 :Int32;
  conns @1 :List(DerpConn);
  endpoints @2 :List(Control.Endpoint);
  hasReport @3 :Bool;
  report @4 :NetcheckReport;
  localPort @5 :UInt16;         # the UDP port bound (v4)
}

struct PeerPath {
  nodePublic @0 :Text;
  curAddr @1 :Text;             # direct "ip:port" in use, "" = none
  relayRegion @2 :Int32;        # DERP region used when no direct path (0 = none)
  lastPongRttNs @3 :Int64;      # 0 = none yet
  rxBytes @4 :UInt64;
  txBytes @5 :UInt64;
  lastRxUnixMs @6 :Int64;
  lastTxUnixMs @7 :Int64;
  active @8 :Bool;
}

# Event magicsockd.paths (retained): all peers, at most 1 Hz and on every path change.
struct Paths {
  peers @0 :List(PeerPath);
}

# magicsockd.netcheck (ipnd only): Common.Empty -> NetcheckReport (a fresh full report).
# magicsockd.ping (ipnd only): a disco ping to a peer.
struct PingParams {
  nodePublic @0 :Text;
  ip @1 :Text;                  # the peer's tailnet IP as the user named it
}
struct PingReply {
  err @0 :Text;
  latencyNs @1 :Int64;
  endpoint @2 :Text;            # "ip:port" when direct
  derpRegionId @3 :Int32;       # when via DERP
  derpRegionCode @4 :Text;
}
