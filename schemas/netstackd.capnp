@0xa16c2ac6e1719a8e;
# netstackd's bus interface (docs/netstack.md).

using Cxx = import "/capnp/c++.capnp";
using Common = import "common.capnp";
using Netmap = import "netmap.capnp";
$Cxx.namespace("tnet::schema");

struct DnsName {
  name @0 :Text;                # FQDN with trailing dot ("host.tailnet.ts.net.")
  addresses @1 :List(Text);     # the peer's tailnet IPs
}

# netstackd.setConfig (ipnd only) -> Common.ConfigAck.
struct NetstackConfig {
  generation @0 :Common.Generation;
  addresses @1 :List(Text);     # this node's tailnet prefixes ("100.64.0.1/32", "fd7a:…/128")
  packetFilterKnown @2 :Bool;   # false: no filter from control yet (Go: allow nothing inbound)
  packetFilter @3 :List(Netmap.FilterRule);
  shieldsUp @4 :Bool;
  magicDnsSuffix @5 :Text;      # "tailnet.ts.net" (no dots at the ends)
  dnsNames @6 :List(DnsName);   # quad-100 answers these (and the short host names)
}
