@0xacc65f7dfaa7532c;
# ipnd's bus interface (docs/contracts.md §ipnd ⇄ apid). apid is the HTTP/1.1 front of the
# LocalAPI; ipnd owns every LocalAPI semantic and every Go JSON shape, so the bodies below are
# Go's JSON bytes, passed through untouched. Evolve by adding fields only.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tnet::schema");

# Request `ipnd.localapi` (callable by apid only).
struct LocalApiRequest {
  method @0 :Text;            # "GET", "PATCH", "POST", ...
  path @1 :Text;              # e.g. "/localapi/v0/prefs" (no query)
  query @2 :Text;             # raw query string, without the leading "?"
  body @3 :Data;              # request body as received
  callerUid @4 :UInt32;       # SO_PEERCRED of the LocalAPI client
  callerPid @5 :UInt32;
  callerPrivileged @6 :Bool;  # root or the uid given to apid as --owner-uid
  needsWrite @7 :Bool;        # from apid's endpoint table
}

struct LocalApiReply {
  status @0 :UInt16;          # HTTP status code, Go's
  contentType @1 :Text;       # e.g. "application/json", "text/plain; charset=utf-8"
  body @2 :Data;
  # For watch-ipn-bus: the ipnd.notify sequence number the initial Notify in `body` reflects.
  # apid streams every later ipnd.notify event with seq greater than this. 0 otherwise.
  notifySeq @3 :UInt64;
}

# Event `ipnd.notify`: one complete Go ipn.Notify JSON object per event.
struct Notify {
  seq @0 :UInt64;             # strictly increasing within one ipnd epoch
  json @1 :Data;
}

# Event `ipnd.state` (retained): the derived backend state.
struct IpnState {
  seq @0 :UInt64;
  state @1 :UInt8;            # Go ipn.State number (0 NoState … 6 Running)
  name @2 :Text;              # Go ipn.State name ("NeedsLogin", ...)
  haveNodeKey @3 :Bool;
  wantRunning @4 :Bool;
}
