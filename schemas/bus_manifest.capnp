# The bus manifest: the single declaration of who runs as whom, who publishes and subscribes to
# what, who may call which request, which packet pipes exist and which environment variables each
# service receives. libs/bus enforces the request ACLs and topic names from it, the supervisor
# takes users and environment allow-lists from it. Change the bus graph here, nowhere else.
@0xd36c932c3346532b;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tnet::schema");

struct Method {
  name @0 :Text;               # "<svc>.<name>" or "sys.<name>"
  callers @1 :List(Text);      # services allowed to call it; "operator" (uid 0 / the suite's own
                               # uid when not root) may always call
}

struct ServiceDecl {
  name @0 :Text;
  user @1 :Text;               # system user (packaging/sysusers.d/tailnetd.conf)
  publishes @2 :List(Text);    # full topic names; "<svc>.hello" and "<svc>.violation" implied
  retained @3 :List(Text);     # the subset of publishes answered by sys.snapshot with a value
  subscribes @4 :List(Text);   # full topic names of other services
  serves @5 :List(Method);     # besides Manifest.everyServiceServes
  pipesTo @6 :List(Text);      # data pipes this service sends into: receiver binds <to>/p.<self>
  environment @7 :List(Text);  # variable names; a trailing '*' is a prefix ("TS_DEBUG_*")
}

struct Manifest {
  group @0 :Text;
  services @1 :List(ServiceDecl);
  everyServiceServes @2 :List(Method);
  everyServiceEnvironment @3 :List(Text);
}

const manifest :Manifest = (
  group = "tailnetd",
  everyServiceServes = [
    (name = "sys.setLogLevel", callers = ["ipnd"]),
    (name = "sys.health", callers = ["ipnd"]),
    # Subscribers of a topic may snapshot it; libs/bus checks the topic list per caller.
    (name = "sys.snapshot", callers = ["ipnd", "apid", "controld", "wgd", "magicsockd", "netstackd"])
  ],
  everyServiceEnvironment = ["TAILNETD_SECCOMP", "TAILNETD_TEST_TIME_SCALE"],
  services = [
    ( name = "ipnd", user = "tailnetd-ipnd",
      publishes = ["ipnd.notify", "ipnd.state", "ipnd.health"],
      retained = ["ipnd.state", "ipnd.health"],
      subscribes = ["apid.health", "controld.health", "wgd.health", "magicsockd.health",
                    "netstackd.health", "apid.violation", "controld.violation", "wgd.violation",
                    "magicsockd.violation", "netstackd.violation", "controld.netmap",
                    "controld.status", "wgd.peers", "wgd.nodekey", "magicsockd.paths",
                    "magicsockd.derp", "magicsockd.discokey"],
      serves = [ (name = "ipnd.localapi", callers = ["apid"]) ],
      # ipnd resolves the control URL it reports (Go's ControlURLOrDefault): prefs first, then
      # TS_CONTROL_URL, so tests that point it at a closed port never see the public default.
      pipesTo = [], environment = ["TS_CONTROL_URL"] ),
    ( name = "apid", user = "tailnetd-apid",
      publishes = ["apid.health"], retained = ["apid.health"],
      subscribes = ["ipnd.notify", "ipnd.state", "ipnd.health"],
      serves = [], pipesTo = [], environment = [] ),
    ( name = "controld", user = "tailnetd-controld",
      publishes = ["controld.health", "controld.netmap", "controld.status"],
      retained = ["controld.health", "controld.netmap", "controld.status"],
      subscribes = ["ipnd.state"],
      serves = [ (name = "controld.setConfig", callers = ["ipnd"]),
                 (name = "controld.login", callers = ["ipnd"]),
                 (name = "controld.logout", callers = ["ipnd"]) ],
      pipesTo = [], environment = ["TS_CONTROL_URL"] ),
    ( name = "wgd", user = "tailnetd-wgd",
      publishes = ["wgd.health", "wgd.peers", "wgd.nodekey", "wgd.discoAdvert"],
      retained = ["wgd.health", "wgd.peers", "wgd.nodekey"],
      subscribes = ["ipnd.state"],
      serves = [ (name = "wgd.setConfig", callers = ["ipnd"]),
                 (name = "wgd.prepareNodeKey", callers = ["ipnd"]),
                 (name = "wgd.commitNodeKey", callers = ["ipnd"]),
                 (name = "wgd.discardPendingKey", callers = ["ipnd"]),
                 (name = "wgd.derpClientInfo", callers = ["magicsockd"]),
                 (name = "wgd.ping", callers = ["ipnd"]) ],
      # TAILNETD_TEST_FORBIDDEN_SYSCALL: the seccomp test probe (docs/hardening.md).
      pipesTo = ["netstackd", "magicsockd"], environment = ["TAILNETD_TEST_FORBIDDEN_SYSCALL"] ),
    ( name = "magicsockd", user = "tailnetd-magicsockd",
      publishes = ["magicsockd.health", "magicsockd.paths", "magicsockd.derp",
                   "magicsockd.discokey"],
      retained = ["magicsockd.health", "magicsockd.paths", "magicsockd.derp",
                  "magicsockd.discokey"],
      subscribes = ["ipnd.state", "wgd.nodekey", "wgd.discoAdvert"],
      serves = [ (name = "magicsockd.setConfig", callers = ["ipnd"]),
                 (name = "magicsockd.netcheck", callers = ["ipnd"]),
                 (name = "magicsockd.ping", callers = ["ipnd"]) ],
      pipesTo = ["wgd"], environment = ["TS_DEBUG_*"] ),
    ( name = "netstackd", user = "tailnetd-netstackd",
      publishes = ["netstackd.health"], retained = ["netstackd.health"],
      subscribes = ["ipnd.state"],
      serves = [ (name = "netstackd.setConfig", callers = ["ipnd"]) ],
      pipesTo = ["wgd"], environment = [] )
  ]
);
