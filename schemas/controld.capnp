@0xbeef648c6df86660;
# controld's bus interface: ipnd drives it by request, controld reports on retained events.
# docs/control.md describes the flows; ARCHITECTURE.md §Keys the node-key lifecycle.

using Cxx = import "/capnp/c++.capnp";
using Common = import "common.capnp";
using Netmap = import "netmap.capnp";
$Cxx.namespace("tnet::schema");

struct Endpoint {
  addr @0 :Text;                # "ip:port"
  type @1 :UInt8;               # tailcfg.EndpointType: 0 unknown, 1 local, 2 stun, 3 portmapped, 4 stun4localport
}

# controld.setConfig (ipnd only): what the map poll and lite updates need. Sent on every change;
# controld starts the map poll only when wantRunning, nodePublic (committed) and discoPublic are
# all known, and sends a lite update when hostinfo, endpoints, preferredDerp or discoPublic change.
struct ControlConfig {
  generation @0 :Common.Generation;
  controlUrl @1 :Text;
  wantRunning @2 :Bool;
  nodePublic @3 :Text;          # the committed node key ("" = none)
  discoPublic @4 :Text;         # magicsockd's current disco key ("" = not yet known)
  hostinfoJson @5 :Data;        # tailcfg.Hostinfo JSON without NetInfo; controld fills NetInfo
  endpoints @6 :List(Endpoint);
  preferredDerp @7 :Int32;      # NetInfo.PreferredDERP, 0 = unknown
  netInfoJson @8 :Data;         # optional tailcfg.NetInfo JSON from magicsockd's netcheck
}

# controld.login (ipnd only): one register attempt (pre-auth key, interactive, re-login, force
# reauth, key rotation). The reply comes when control answered the first register request.
struct LoginParams {
  controlUrl @0 :Text;
  authKey @1 :Text;             # secret: never logged, never persisted, dropped after use
  nodePublic @2 :Text;          # the key to register (RegisterRequest.NodeKey)
  oldNodePublic @3 :Text;       # RegisterRequest.OldNodeKey ("" = none)
  interactive @4 :Bool;         # login-interactive: ask for an AuthURL even with a valid key
  hostinfoJson @5 :Data;
  ephemeral @6 :Bool;
  tags @7 :List(Text);          # AdvertiseTags
}

struct LoginReply {
  # Exactly one outcome:
  #  registered:  control accepted nodePublic (no AuthURL): ipnd commits the key.
  #  authUrl:     the user must visit it; controld keeps the follow-up long-poll open and publishes
  #               controld.status with loginFinished when it completes.
  authUrl @0 :Text;
  registered @1 :Bool;
  machineAuthorized @2 :Bool;   # false = NeedsMachineAuth
  nodeKeyExpired @3 :Bool;
  loginName @4 :Text;           # RegisterResponse.Login.LoginName
  userId @5 :Int64;
  error @6 :Text;               # RegisterResponse.Error (user-visible); registered is false
}

# controld.logout (ipnd only): register with an Expiry in the past for nodePublic, stop polling.
struct LogoutParams {
  controlUrl @0 :Text;
  nodePublic @1 :Text;
}

# Event controld.status (retained).
struct ControlStatus {
  enum Phase {
    idle @0;                    # nothing asked of us
    registering @1;
    waitingForAuth @2;          # authUrl set, follow-up poll open
    loggedIn @3;                # registered, map poll not (yet) running
    mapPolling @4;              # map stream open and delivering
    reconnecting @5;            # map stream broke; backoff running (lastError says why)
  }
  phase @0 :Phase;
  controlUrl @1 :Text;
  authUrl @2 :Text;
  loggedInNodePublic @3 :Text;  # set by a completed login (also the follow-up of an AuthURL)
  loginFinishedCount @4 :UInt64;# +1 per completed login, so ipnd sees repeated completions
  machineAuthorized @5 :Bool;
  nodeKeyExpired @6 :Bool;
  lastError @7 :Text;           # user-visible ("" = none)
  mapConnected @8 :Bool;
  machinePublic @9 :Text;       # mkey: of this node (public, for status)
  loginName @10 :Text;
  userId @11 :Int64;
}

# Event controld.netmap (retained): Netmap.Netmap.
