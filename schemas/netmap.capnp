@0xfd53a8510f8b78c5;
# The network map as controld reports it to ipnd (event `controld.netmap`): a complete, validated
# snapshot, never a delta. controld applies Go's delta rules (services/controld/core/netmap.h) and
# publishes the result with a generation that rises by 1 per change. Keys are in Go's text form
# ("nodekey:<64 hex>", "discokey:<64 hex>", "mkey:<64 hex>"); addresses and prefixes in Go's
# netip text form. Absent optional Go fields are empty lists / zero / has* = false.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tnet::schema");

struct Service {
  proto @0 :Text;
  port @1 :UInt16;
}

struct Hostinfo {
  hostname @0 :Text;
  os @1 :Text;
  osVersion @2 :Text;
  ipnVersion @3 :Text;
  routableIps @4 :List(Text);
  services @5 :List(Service);
  shieldsUp @6 :Bool;
  sshHostKeys @7 :List(Text);
}

struct Node {
  id @0 :Int64;
  stableId @1 :Text;
  name @2 :Text;                # MagicDNS FQDN with the trailing dot
  user @3 :Int64;
  sharer @4 :Int64;
  key @5 :Text;                 # nodekey:
  hasKeyExpiry @6 :Bool;
  keyExpiryUnix @7 :Int64;      # seconds
  machine @8 :Text;             # mkey:
  discoKey @9 :Text;            # discokey: ("" when the peer has none)
  addresses @10 :List(Text);    # prefixes, e.g. "100.64.0.1/32"
  allowedIps @11 :List(Text);   # effective AllowedIPs (addresses when control sent none)
  endpoints @12 :List(Text);    # "ip:port"
  homeDerp @13 :Int32;          # region id, 0 = none
  hasHostinfo @14 :Bool;
  hostinfo @15 :Hostinfo;
  hasCreated @16 :Bool;
  createdUnix @17 :Int64;
  hasLastSeen @18 :Bool;
  lastSeenUnix @19 :Int64;
  hasOnline @20 :Bool;
  online @21 :Bool;
  cap @22 :Int32;
  tags @23 :List(Text);
  primaryRoutes @24 :List(Text);
  capabilities @25 :List(Text);
  machineAuthorized @26 :Bool;
  expired @27 :Bool;
  isWireGuardOnly @28 :Bool;
  hostinfoJson @29 :Text;       # Hostinfo as control sent it (re-encoded compact JSON), "" when
                                # absent or over 16 KiB / nested too deep; LocalAPI whois only
}

struct DerpNode {
  name @0 :Text;
  regionId @1 :Int32;
  hostName @2 :Text;
  certName @3 :Text;
  ipv4 @4 :Text;
  ipv6 @5 :Text;
  stunPort @6 :Int32;           # Go's: 0 means 3478, -1 means no STUN
  stunOnly @7 :Bool;
  derpPort @8 :Int32;           # Go's: 0 means 443
  insecureForTests @9 :Bool;
  stunTestIp @10 :Text;
  canPort80 @11 :Bool;
}

struct DerpRegion {
  regionId @0 :Int32;
  regionCode @1 :Text;
  regionName @2 :Text;
  avoid @3 :Bool;
  noMeasureNoHome @4 :Bool;
  nodes @5 :List(DerpNode);
  latitude @6 :Float64;
  longitude @7 :Float64;
}

struct DerpMap {
  regions @0 :List(DerpRegion); # sorted by regionId
  omitDefaultRegions @1 :Bool;
}

struct DnsResolver {
  addr @0 :Text;
  bootstrapResolution @1 :List(Text);
}

struct DnsRoute {
  suffix @0 :Text;
  resolvers @1 :List(DnsResolver);
}

struct DnsRecord {
  name @0 :Text;
  type @1 :Text;
  value @2 :Text;
}

struct DnsConfig {
  resolvers @0 :List(DnsResolver);
  routes @1 :List(DnsRoute);
  fallbackResolvers @2 :List(DnsResolver);
  domains @3 :List(Text);
  proxied @4 :Bool;             # MagicDNS on
  nameservers @5 :List(Text);
  certDomains @6 :List(Text);
  extraRecords @7 :List(DnsRecord);
}

struct FilterDstPorts {
  ip @0 :Text;                  # "*", IP, CIDR or range, as control sent it
  bits @1 :Int32;               # deprecated Bits; -1 = absent
  first @2 :UInt16;
  last @3 :UInt16;
}

struct FilterRule {
  srcIps @0 :List(Text);
  dstPorts @1 :List(FilterDstPorts);
  ipProto @2 :List(Int32);      # empty = TCP, UDP, ICMPv4, ICMPv6 (Go's default)
  capGrantJson @3 :Text;        # raw JSON of CapGrant, "" when absent
}

struct UserProfile {
  id @0 :Int64;
  loginName @1 :Text;
  displayName @2 :Text;
  profilePicUrl @3 :Text;
}

struct Netmap {
  generation @0 :UInt64;        # 1 for the first complete map, +1 per change
  self @1 :Node;
  peers @2 :List(Node);         # sorted by id
  derpMap @3 :DerpMap;
  hasDns @4 :Bool;
  dns @5 :DnsConfig;
  packetFilterKnown @6 :Bool;   # false until control sent PacketFilter(s)
  packetFilter @7 :List(FilterRule);
  userProfiles @8 :List(UserProfile);
  domain @9 :Text;              # the tailnet name (MapResponse.Domain)
  health @10 :List(Text);
  hasCollectServices @11 :Bool;
  collectServices @12 :Bool;
  controlTimeUnix @13 :Int64;
}
