// Unit tests of controld's app pieces that need no server: the machine key file, the netmap →
// capnp conversion, the backoff, and the Hostinfo/NetInfo parser ipnd's JSON goes through.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <capnp/message.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "libs/ipn/go_json.h"

#include "services/controld/app/backoff.h"
#include "services/controld/app/machine_key.h"
#include "services/controld/app/netmap_capnp.h"
#include "services/controld/core/hostinfo_parse.h"
#include "services/controld/core/map_decode.h"

namespace tnet::controld {
namespace {

using namespace std::chrono_literals;

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/tnet-ctl-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

mode_t modeOf(const std::string& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(MachineKey, CreatedOnceWith0600In0700AndReloaded) {
  TempDir t;
  std::string dir = t.path + "/controld";
  auto first = loadOrCreateMachineKey(dir);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_FALSE(first->isZero());
  EXPECT_EQ(modeOf(dir), 0700u);
  EXPECT_EQ(modeOf(dir + "/machine.key"), 0600u);
  std::ifstream in(dir + "/machine.key");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("privkey:", 0), 0u);
  EXPECT_EQ(text.size(), 8u + 64u);
  EXPECT_FALSE(std::filesystem::exists(dir + "/machine.key.tmp"));

  auto second = loadOrCreateMachineKey(dir);
  ASSERT_TRUE(second);
  EXPECT_EQ(first->publicKey(), second->publicKey());
}

TEST(MachineKey, LooseDirIsTightenedAndCorruptFileIsAnErrorNotReplaced) {
  TempDir t;
  chmod(t.path.c_str(), 0755);
  {
    std::ofstream out(t.path + "/machine.key");
    out << "privkey:not-hex";
  }
  auto r = loadOrCreateMachineKey(t.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::INVALID);
  EXPECT_EQ(r.error().message.find("not-hex"), std::string::npos) << "the file's text is never quoted";
  EXPECT_EQ(modeOf(t.path), 0700u);
  std::ifstream in(t.path + "/machine.key");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "privkey:not-hex");
}

TEST(MachineKey, HardeningDisablesCoreDumpsAndDumpable) {
  // Run in a child so the test process keeps its own settings.
  pid_t pid = fork();
  if (pid == 0) {
    if (!hardenForKeys()) _exit(2);
    std::ifstream status("/proc/self/status");
    rlimit lim{};
    getrlimit(RLIMIT_CORE, &lim);
    _exit(lim.rlim_cur == 0 && lim.rlim_max == 0 && prctl(PR_GET_DUMPABLE) == 0 ? 0 : 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

TEST(Backoff, DoublesWithJitterUpToTheCapAndResets) {
  Backoff b(100ms, 1000ms, 42);
  auto d1 = b.next();
  EXPECT_GE(d1, 50ms);
  EXPECT_LT(d1, 150ms);
  auto d2 = b.next();
  EXPECT_GE(d2, 100ms);
  EXPECT_LT(d2, 300ms);
  for (int i = 0; i < 20; ++i) {
    auto d = b.next();
    EXPECT_GE(d, 500ms);
    EXPECT_LT(d, 1500ms);
  }
  b.reset();
  EXPECT_LT(b.next(), 150ms);
  // The jitter really varies.
  Backoff c(1000ms, 1000ms, 7);
  std::set<int64_t> seen;
  for (int i = 0; i < 10; ++i) seen.insert(c.next().count());
  EXPECT_GT(seen.size(), 5u);
}

TEST(NetmapCapnp, PeersWithoutHostinfoOrEndpointsConvert) {
  auto resp = decodeMapResponse(R"({
    "Node":{"ID":1,"Key":"nodekey:)" + std::string(64, '1') + R"(","Addresses":["100.64.0.1/32"],
            "Hostinfo":{"Hostname":"me","OS":"linux","Services":[{"Proto":"peerapi4","Port":123}]},
            "KeyExpiry":"2030-01-01T00:00:00Z","Online":true,"HomeDERP":3},
    "Peers":[{"ID":5,"Key":"nodekey:)" + std::string(64, '2') + R"(","Addresses":["100.64.0.5/32"]},
             {"ID":6,"Key":"nodekey:)" + std::string(64, '3') + R"(","Addresses":["100.64.0.6/32"],
              "AllowedIPs":["100.64.0.6/32","10.0.0.0/8"],"Endpoints":["192.0.2.1:41641"],
              "DiscoKey":"discokey:)" + std::string(64, '4') + R"("}],
    "DERPMap":{"Regions":{"3":{"RegionID":3,"RegionCode":"x","Nodes":[{"Name":"3a","RegionID":3,"HostName":"d"}]}}},
    "DNSConfig":{"Resolvers":[{"Addr":"1.1.1.1"}],"Routes":{"ts.net.":null},"Domains":["ts.net"],"Proxied":true},
    "PacketFilter":[{"SrcIPs":["*"],"DstPorts":[{"IP":"*","Ports":{"First":22,"Last":22}}],"IPProto":[6]}],
    "UserProfiles":[{"ID":1,"LoginName":"a@b"}],"Domain":"b.ts.net"})");
  ASSERT_TRUE(resp) << resp.error().message;
  MapSession session;
  ASSERT_TRUE(session.apply(std::move(*resp), 1000));
  capnp::MallocMessageBuilder mb;
  auto out = mb.initRoot<schema::Netmap>();
  fillNetmap(out, *session.netmap());
  auto r = out.asReader();
  EXPECT_EQ(r.getGeneration(), 1u);
  EXPECT_EQ(std::string(r.getSelf().getKey().cStr()), "nodekey:" + std::string(64, '1'));
  EXPECT_TRUE(r.getSelf().getHasHostinfo());
  EXPECT_EQ(std::string(r.getSelf().getHostinfo().getHostname().cStr()), "me");
  EXPECT_EQ(r.getSelf().getHostinfo().getServices()[0].getPort(), 123);
  EXPECT_TRUE(r.getSelf().getHasKeyExpiry());
  EXPECT_EQ(r.getSelf().getKeyExpiryUnix(), 1893456000);
  EXPECT_EQ(r.getSelf().getHomeDerp(), 3);
  ASSERT_EQ(r.getPeers().size(), 2u);
  auto bare = r.getPeers()[0];
  EXPECT_EQ(bare.getId(), 5);
  EXPECT_FALSE(bare.getHasHostinfo());
  EXPECT_EQ(bare.getEndpoints().size(), 0u);
  EXPECT_EQ(std::string(bare.getDiscoKey().cStr()), "");
  EXPECT_FALSE(bare.getHasOnline());
  ASSERT_EQ(bare.getAllowedIps().size(), 1u);  // AllowedIPs absent = Addresses
  EXPECT_EQ(std::string(bare.getAllowedIps()[0].cStr()), "100.64.0.5/32");
  auto full = r.getPeers()[1];
  EXPECT_EQ(full.getAllowedIps().size(), 2u);
  EXPECT_EQ(std::string(full.getEndpoints()[0].cStr()), "192.0.2.1:41641");
  EXPECT_EQ(std::string(full.getDiscoKey().cStr()), "discokey:" + std::string(64, '4'));
  ASSERT_EQ(r.getDerpMap().getRegions().size(), 1u);
  EXPECT_EQ(r.getDerpMap().getRegions()[0].getRegionId(), 3);
  EXPECT_EQ(std::string(r.getDerpMap().getRegions()[0].getNodes()[0].getHostName().cStr()), "d");
  EXPECT_TRUE(r.getHasDns());
  EXPECT_TRUE(r.getDns().getProxied());
  EXPECT_EQ(std::string(r.getDns().getRoutes()[0].getSuffix().cStr()), "ts.net.");
  EXPECT_TRUE(r.getPacketFilterKnown());
  ASSERT_EQ(r.getPacketFilter().size(), 1u);
  EXPECT_EQ(r.getPacketFilter()[0].getDstPorts()[0].getFirst(), 22);
  EXPECT_EQ(r.getPacketFilter()[0].getIpProto()[0], 6);
  EXPECT_EQ(std::string(r.getUserProfiles()[0].getLoginName().cStr()), "a@b");
  EXPECT_EQ(std::string(r.getDomain().cStr()), "b.ts.net");
}

TEST(HostinfoParse, RoundTripsThroughGoJsonAndRejectsWrongTypes) {
  auto h = hostinfoFromJson(R"({"IPNVersion":"1.2","OS":"linux","hostname":"box","RoutableIPs":["10.0.0.0/8"],
    "RequestTags":["tag:b","tag:a"],"Services":[{"Proto":"tcp","Port":22}],"ShieldsUp":true,
    "NetInfo":{"PreferredDERP":3,"WorkingUDP":true,"DERPLatency":{"3-v4":0.01}},"Unknown":{"x":1}})");
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_EQ(h->hostname, "box");  // Go matches keys case-insensitively
  ASSERT_TRUE(h->netInfo);
  EXPECT_EQ(h->netInfo->preferredDerp, 3);
  EXPECT_TRUE(h->netInfo->workingUdp.equalBool(true));
  auto json = ipn::goMarshal(hostinfoToJson(*h));
  EXPECT_EQ(json,
            R"({"IPNVersion":"1.2","OS":"linux","Hostname":"box","ShieldsUp":true,"RoutableIPs":["10.0.0.0/8"],)"
            R"("RequestTags":["tag:a","tag:b"],"Services":[{"Proto":"tcp","Port":22}],)"
            R"("NetInfo":{"WorkingUDP":true,"PreferredDERP":3,"DERPLatency":{"3-v4":0.01}}})");

  EXPECT_FALSE(hostinfoFromJson("not json"));
  EXPECT_FALSE(hostinfoFromJson("[]"));
  auto bad = hostinfoFromJson(R"({"Hostname":5})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("Hostname"), std::string::npos);
  EXPECT_FALSE(hostinfoFromJson(R"({"RoutableIPs":["nope"]})"));
  EXPECT_FALSE(hostinfoFromJson(R"({"Services":[{"Port":70000}]})"));
  EXPECT_FALSE(netInfoFromJson(R"({"PreferredDERP":"x"})"));
  EXPECT_FALSE(hostinfoFromJson(std::string(MAX_HOSTINFO_JSON + 1, ' ')));
}

}  // namespace
}  // namespace tnet::controld
