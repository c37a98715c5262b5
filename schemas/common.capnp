# Shared bus types: envelopes for events and requests, errors, health and the sys.* methods every
# service serves. Schemas evolve by adding fields only (never renumber, never change a type).
@0x9efbc44b59f2b36c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tnet::schema");

# Same kinds and order as tnet::ErrorKind (libs/base/result.h).
enum ErrorKind {
  failed @0;
  invalid @1;
  denied @2;
  overloaded @3;
  disconnected @4;
  unimplemented @5;
}

struct Error {
  kind @0 :ErrorKind;
  message @1 :Text;
}

struct Empty {}

# ---- requests: DEALER (caller) -> ROUTER (<runtime>/<svc>/rpc) --------------------------------
struct RequestEnvelope {
  id @0 :UInt64;             # caller-chosen, echoed in the reply
  method @1 :Text;           # "<svc>.<name>" or "sys.<name>", declared in bus_manifest.capnp
  deadlineMs @2 :UInt32;     # milliseconds from sending; the server drops work past it
  claimedCaller @3 :Text;    # informational only: the caller is who the kernel says (ZAP)
  params @4 :AnyPointer;
}

struct ReplyEnvelope {
  id @0 :UInt64;
  union {
    ok @1 :AnyPointer;
    error @2 :Error;
  }
}

# ---- events: PUB (<runtime>/<svc>/ev), two frames: topic, EventEnvelope ------------------------
struct EventEnvelope {
  topic @0 :Text;            # "<svc>.<subject>"
  epoch @1 :UInt64;          # publisher's start epoch (changes on every restart)
  seq @2 :UInt64;            # per topic, starts at 1, +1 per event
  payload @3 :AnyPointer;
}

# <svc>.hello, every second and at start.
struct Hello {
  epoch @0 :UInt64;
}

# sys.snapshot: the current sequence number of each topic and the value of the retained ones.
struct SnapshotParams {
  topics @0 :List(Text);
}

struct SnapshotEntry {
  topic @0 :Text;
  seq @1 :UInt64;            # 0 = nothing published yet
  hasValue @2 :Bool;         # a retained value follows in payload
  payload @3 :AnyPointer;
}

struct Snapshot {
  epoch @0 :UInt64;
  entries @1 :List(SnapshotEntry);
}

# ---- health (<svc>.health, retained; also the reply of sys.health) ------------------------------
struct IsolationFacts {
  pid @0 :UInt32;
  uid @1 :UInt32;
  gid @2 :UInt32;
  noNewPrivs @3 :Bool;
  capEff @4 :UInt64;
  capBnd @5 :UInt64;
  seccompMode @6 :UInt8;       # 0 off, 1 strict, 2 filter
  netnsInode @7 :UInt64;
  nonLoopbackInterfaces @8 :List(Text);
}

struct Health {
  enum State {
    starting @0;
    ok @1;
    degraded @2;
    failed @3;
  }
  service @0 :Text;
  state @1 :State;
  message @2 :Text;
  isolation @3 :IsolationFacts;
  isolationError @4 :Text;     # set when /proc could not be read
  epoch @5 :UInt64;
  # Set when the supervisor restarted this service (docs/supervisor.md): why the previous
  # instance ended ("signal 11 (Segmentation fault)", "exit 1"), when (wall clock), and how many
  # restarts so far. Empty/0 on a first start or when not started by tailnetd.
  lastExit @6 :Text;
  lastExitUnixMs @7 :Int64;
  restarts @8 :UInt32;
}

# <svc>.violation: a request the manifest does not allow for its caller.
struct Violation {
  caller @0 :Text;           # service mapped from the kernel uid ("" when unknown)
  uid @1 :UInt32;
  pid @2 :UInt32;
  method @3 :Text;
  claimedCaller @4 :Text;    # what the message said about itself (never trusted)
}

# sys.setLogLevel: 0 info, 1 debug, 2 trace (libs/log/log.h).
struct SetLogLevelParams {
  level @0 :UInt8;
}

# A config generation (ARCHITECTURE.md §Startup): (ipnd's bus epoch, n). A service accepts any
# config from a newer epoch, or a larger n within the same epoch, and acknowledges what it applied.
struct Generation {
  epoch @0 :UInt64;
  n @1 :UInt64;
}

struct ConfigAck {
  applied @0 :Generation;
}
