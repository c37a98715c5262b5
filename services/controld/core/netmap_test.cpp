#include "services/controld/core/netmap.h"

#include <gtest/gtest.h>

#include "services/controld/core/map_decode.h"

namespace tnet::controld {
namespace {

std::string hex64(char c) { return std::string(64, c); }

MapResponse decode(const std::string& json) {
  auto r = decodeMapResponse(json);
  EXPECT_TRUE(r) << json << ": " << (r ? "" : r.error().message);
  return r ? std::move(*r) : MapResponse();
}

std::string peer(int id, const std::string& extra = "") {
  return R"({"ID":)" + std::to_string(id) + R"(,"Key":"nodekey:)" + hex64('0' + id % 10) +
         R"(","Addresses":["100.64.0.)" + std::to_string(id) + R"(/32"])" + extra + "}";
}

const std::string SELF = R"("Node":{"ID":1,"Key":"nodekey:)" + std::string(64, 'f') +
                         R"(","Addresses":["100.64.0.1/32"],"MachineAuthorized":true})";

std::vector<NodeId> ids(const NetworkMap& nm) {
  std::vector<NodeId> out;
  for (const auto& p : nm.peers) out.push_back(p.id);
  return out;
}

class Session : public ::testing::Test {
 protected:
  void SetUp() override {
    auto out = s.apply(decode("{" + SELF + R"(,"Peers":[)" + peer(4) + "," + peer(2) + "," + peer(3) +
                              R"(],"DERPMap":{"HomeParams":{"RegionScore":{"1":2}},"Regions":{"1":{"RegionID":1,"Nodes":[{"Name":"1a","RegionID":1,"HostName":"d1"}]}},"omitDefaultRegions":true},
                              "PacketFilter":[{"SrcIPs":["*"]}],"DNSConfig":{"Proxied":true},"Domain":"t.ts.net",
                              "UserProfiles":[{"ID":100,"LoginName":"a@x"}],"Health":["warn"]})"),
                       1000);
    ASSERT_TRUE(out) << out.error().message;
    ASSERT_TRUE(out->changed);
  }
  const NetworkMap& nm() { return *s.netmap(); }
  void apply(const std::string& json, int64_t now = 2000) {
    auto out = s.apply(decode(json), now);
    ASSERT_TRUE(out) << out.error().message;
  }
  MapSession s;
};

TEST(MapSessionStart, FirstResponseMustCarryNode) {
  MapSession s;
  EXPECT_TRUE(s.apply(decode(R"({"KeepAlive":true})"), 0)->keepAliveOnly);
  EXPECT_EQ(s.netmap(), nullptr);
  auto r = s.apply(decode(R"({"Peers":[)" + peer(2) + "]}"), 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "initial MapResponse lacked node");
  EXPECT_EQ(s.netmap(), nullptr);
}

TEST_F(Session, FullMapIsSortedAndGenerationOne) {
  EXPECT_EQ(nm().generation, 1u);
  EXPECT_EQ(ids(nm()), (std::vector<NodeId>{2, 3, 4}));
  EXPECT_EQ(nm().self.id, 1);
  EXPECT_EQ(nm().packetFilter.size(), 1u);
  EXPECT_TRUE(nm().packetFilterKnown);
  EXPECT_EQ(nm().domain, "t.ts.net");
}

TEST_F(Session, KeepAliveChangesNothing) {
  auto out = s.apply(decode(R"({"KeepAlive":true})"), 5);
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->keepAliveOnly);
  EXPECT_EQ(nm().generation, 1u);
}

TEST_F(Session, FullPeersReplaceAndPrecludeOtherDeltas) {
  apply(R"({"Peers":[)" + peer(7) + "," + peer(5) + R"(],"PeersRemoved":[5],"PeersChanged":[)" + peer(9) +
        R"(],"OnlineChange":{"7":true}})");
  EXPECT_EQ(ids(nm()), (std::vector<NodeId>{5, 7}));
  EXPECT_EQ(nm().findPeer(7)->online, std::nullopt) << "OnlineChange ignored beside a full list";
  EXPECT_EQ(nm().generation, 2u);
}

TEST_F(Session, EmptyPeersListIsNotAFullReplacement) {
  apply(R"({"Peers":[],"Domain":"u.ts.net"})");
  EXPECT_EQ(ids(nm()), (std::vector<NodeId>{2, 3, 4}));
}

TEST_F(Session, RemovedThenChangedUpsert) {
  apply(R"({"PeersRemoved":[3,99],"PeersChanged":[)" + peer(6) + "," + peer(2, R"(,"Name":"renamed.")") +
        "," + peer(5) + "]}");
  EXPECT_EQ(ids(nm()), (std::vector<NodeId>{2, 4, 5, 6}));
  EXPECT_EQ(nm().findPeer(2)->name, "renamed.");
  EXPECT_EQ(nm().findPeer(3), nullptr);
}

TEST_F(Session, SeenAndOnlineChanges) {
  apply(R"({"PeerSeenChange":{"2":true,"3":false,"42":true},"OnlineChange":{"4":true,"43":false}})", 12345);
  EXPECT_EQ(nm().findPeer(2)->lastSeen, std::optional<int64_t>(12345));
  EXPECT_EQ(nm().findPeer(3)->lastSeen, std::nullopt);
  EXPECT_EQ(nm().findPeer(4)->online, std::optional<bool>(true));
  EXPECT_EQ(nm().peers.size(), 3u) << "unknown IDs are ignored";
}

TEST_F(Session, HostinfoJsonSurvivesPatchesAndIsReplacedByPeersChanged) {
  apply(R"({"PeersChanged":[)" + peer(2, R"(,"Hostinfo":{"OS":"linux","Hostname":"two"})") + "]}");
  EXPECT_EQ(nm().findPeer(2)->hostinfoJson, R"({"Hostname":"two","OS":"linux"})");
  apply(R"({"PeersChangedPatch":[{"NodeID":2,"DERPRegion":5,"Online":true,"Endpoints":["192.0.2.1:1"]}],
          "OnlineChange":{"2":false},"PeerSeenChange":{"2":true}})");
  EXPECT_EQ(nm().findPeer(2)->hostinfoJson, R"({"Hostname":"two","OS":"linux"})");
  apply(R"({"PeersChanged":[)" + peer(2, R"(,"Hostinfo":{"OS":"freebsd"})") + "]}");
  EXPECT_EQ(nm().findPeer(2)->hostinfoJson, R"({"OS":"freebsd"})");
  apply(R"({"PeersChanged":[)" + peer(2) + "]}");
  EXPECT_EQ(nm().findPeer(2)->hostinfoJson, "") << "a full node without Hostinfo has none";
}

TEST_F(Session, PatchOnlyPresentFields) {
  apply(R"({"PeersChanged":[)" + peer(2, R"(,"HomeDERP":1,"Endpoints":["192.0.2.1:1"],"Cap":90,"Name":"keep.")") + "]}");
  apply(R"({"PeersChangedPatch":[{"NodeID":2,"DERPRegion":5,"Online":true},{"NodeID":77,"DERPRegion":1}]})");
  const Node* p = nm().findPeer(2);
  EXPECT_EQ(p->homeDerp, 5);
  EXPECT_EQ(p->online, std::optional<bool>(true));
  EXPECT_EQ(p->endpoints.size(), 1u) << "absent Endpoints unchanged";
  EXPECT_EQ(p->cap, 90);
  EXPECT_EQ(p->name, "keep.");
  apply(R"({"PeersChangedPatch":[{"NodeID":2,"Endpoints":["192.0.2.2:2","192.0.2.3:3"],"Key":"nodekey:)" + hex64('e') +
        R"(","DiscoKey":"discokey:)" + hex64('d') + R"(","LastSeen":"2024-01-01T00:00:00Z","KeyExpiry":"2030-01-01T00:00:00Z","Cap":100,"CapMap":{"x":null},"KeySignature":"c2ln"}]})");
  p = nm().findPeer(2);
  EXPECT_EQ(p->endpoints.size(), 2u);
  EXPECT_EQ(p->key.toString(), "nodekey:" + hex64('e'));
  EXPECT_EQ(p->discoKey.toString(), "discokey:" + hex64('d'));
  EXPECT_EQ(p->lastSeen, std::optional<int64_t>(1704067200));
  EXPECT_EQ(p->keyExpiry, std::optional<int64_t>(1893456000));
  EXPECT_EQ(p->cap, 100);
  EXPECT_EQ(p->capMap.count("x"), 1u);
  EXPECT_EQ(p->keySignature, "c2ln");
  EXPECT_EQ(p->homeDerp, 5);
  EXPECT_EQ(nm().peers.size(), 3u);
}

TEST_F(Session, NullOrAbsentMeansUnchanged) {
  apply(R"({"DERPMap":null,"DNSConfig":null,"PacketFilter":null,"Domain":"","Node":null,"Health":null,"UserProfiles":null,"PeersChanged":[)" + peer(8) + "]}");
  EXPECT_EQ(nm().derpMap.regions->size(), 1u);
  EXPECT_TRUE(nm().dns->proxied);
  EXPECT_EQ(nm().packetFilter.size(), 1u);
  EXPECT_EQ(nm().domain, "t.ts.net");
  EXPECT_EQ(nm().self.id, 1);
  EXPECT_EQ(nm().health, std::vector<std::string>{"warn"});
  EXPECT_EQ(nm().userProfiles.size(), 1u);
}

TEST_F(Session, EmptyFilterDeniesAllAndNamedChunksConcatenateSorted) {
  apply(R"({"PacketFilter":[]})");
  EXPECT_TRUE(nm().packetFilter.empty());
  EXPECT_TRUE(nm().packetFilterKnown);
  apply(R"({"PacketFilters":{"zz":[{"SrcIPs":["3"]}],"aa":[{"SrcIPs":["1"]}]},"PacketFilter":[{"SrcIPs":["2"]}]})");
  ASSERT_EQ(nm().packetFilter.size(), 3u);
  EXPECT_EQ(nm().packetFilter[0].srcIps[0], "1");  // "aa" < "base" < "zz"
  EXPECT_EQ(nm().packetFilter[1].srcIps[0], "2");
  EXPECT_EQ(nm().packetFilter[2].srcIps[0], "3");
  apply(R"({"PacketFilters":{"zz":null}})");
  EXPECT_EQ(nm().packetFilter.size(), 2u);
  apply(R"({"PacketFilters":{"*":null,"new":[{"SrcIPs":["4"]}]}})");
  ASSERT_EQ(nm().packetFilter.size(), 1u) << "\"*\": null clears every chunk, base included";
  EXPECT_EQ(nm().packetFilter[0].srcIps[0], "4");
}

TEST_F(Session, DerpMapMergeRules) {
  apply(R"({"DERPMap":{"HomeParams":{}}})");
  EXPECT_EQ(nm().derpMap.regions->size(), 1u) << "null Regions keeps the previous regions";
  EXPECT_TRUE(nm().derpMap.omitDefaultRegions) << "…and omitDefaultRegions";
  EXPECT_EQ(nm().derpMap.homeParams->regionScore->at(1), 2) << "null RegionScore keeps the scores";
  apply(R"({"DERPMap":{"Regions":{"2":{"RegionID":2,"Nodes":[]},"3":null}}})");
  EXPECT_EQ(nm().derpMap.regions->size(), 1u);
  EXPECT_EQ(nm().derpMap.regions->count(2), 1u) << "non-null Regions replaces";
  EXPECT_FALSE(nm().derpMap.omitDefaultRegions);
  EXPECT_EQ(nm().derpMap.homeParams->regionScore->at(1), 2) << "null HomeParams keeps it";
}

TEST_F(Session, DnsReplacedWholeAndUserProfilesUpserted) {
  apply(R"({"DNSConfig":{"Domains":["x"]},"UserProfiles":[{"ID":100,"LoginName":"b@x"},{"ID":101}]})");
  EXPECT_FALSE(nm().dns->proxied);
  EXPECT_EQ(nm().dns->domains, std::vector<std::string>{"x"});
  EXPECT_EQ(nm().userProfiles.at(100).loginName, "b@x");
  EXPECT_EQ(nm().userProfiles.size(), 2u);
}

TEST_F(Session, InvalidResponseLeavesMapUntouched) {
  auto r = s.apply(decode(R"({"PeersChanged":[{"ID":0}],"Domain":"evil"})"), 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(nm().domain, "t.ts.net");
  EXPECT_EQ(nm().generation, 1u);
  EXPECT_FALSE(s.apply(decode(R"({"Node":{"ID":1}})"), 1)) << "self without a key";
  EXPECT_FALSE(s.apply(decode(R"({"DERPMap":{"Regions":{"1":{"RegionID":2}}}})"), 1));
}

TEST_F(Session, PingDedupedByUrl) {
  auto a = s.apply(decode(R"({"PingRequest":{"URL":"https://c/p/1"}})"), 1);
  ASSERT_TRUE(a && a->ping);
  EXPECT_FALSE(a->changed) << "a ping alone does not change the netmap";
  auto b = s.apply(decode(R"({"PingRequest":{"URL":"https://c/p/1"}})"), 2);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->ping);
  auto c = s.apply(decode(R"({"PingRequest":{"URL":"https://c/p/2","Types":"c2n"}})"), 3);
  ASSERT_TRUE(c && c->ping);
  EXPECT_EQ(c->ping->types, "c2n");
  EXPECT_EQ(nm().generation, 1u);
}

}  // namespace
}  // namespace tnet::controld
