#include "cli/isolation_report.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace tnet::cli {
namespace {

TEST(IsolationReport, ParsesAndFormatsSingleUid) {
  auto report = nlohmann::json::parse(R"({"Services":[
    {"Name":"wgd","Pid":101,"State":"ok","Message":"",
     "Isolation":{"Uid":1000,"Gid":1000,"NoNewPrivs":true,"CapEff":0,"SeccompMode":2,"NetnsInode":222,
                  "NonLoopbackInterfaces":[]}},
    {"name":"magicsockd","pid":102,"health":{"state":"ok","message":"derp connected",
     "isolation":{"uid":1000,"noNewPrivs":false,"capEff":"0000000000003000","seccompMode":0,"netnsInode":111,
                  "nonLoopbackInterfaces":["eth0"]}}},
    {"Name":"apid","Pid":103,"State":"starting"}]})");
  auto services = parseIsolationReport(report);
  ASSERT_TRUE(services) << services.error().message;
  ASSERT_EQ(services->size(), 3u);
  EXPECT_EQ((*services)[1].facts->capEff, 0x3000u);
  EXPECT_EQ((*services)[1].message, "derp connected");
  std::string out = formatIsolation(*services, 111, false);
  EXPECT_EQ(
      out,
      "SERVICE     PID  UID   NO_NEW_PRIVS  CAP_EFF           SECCOMP  NETNS          INTERFACES  HEALTH"
      "                                  \n"
      "wgd         101  1000  yes           none              filter   222 (private)  none        ok"
      "                                      \n"
      "magicsockd  102  1000  no            0000000000003000  off      111 (host)     eth0        ok: derp"
      " connected                      \n"
      "apid        103  ?     ?             ?                 ?        ?              ?           starting"
      " (no isolation facts reported)  \n"
      "(as reported by each service)\n"
      "single uid: no privilege separation\n");
}

TEST(IsolationReport, DistinctUidsAreNotSingle) {
  auto report = nlohmann::json::parse(R"({"Services":{
    "wgd":{"Pid":1,"Isolation":{"Uid":991}},
    "ipnd":{"Pid":2,"Isolation":{"Uid":992}}}})");
  auto services = parseIsolationReport(report);
  ASSERT_TRUE(services);
  EXPECT_EQ(formatIsolation(*services, 0, true).find("single uid"), std::string::npos);
}

// The shape ipnd serves (services/ipnd/core/health_cache.cpp): a bare array.
TEST(IsolationReport, IpndShape) {
  auto report = nlohmann::json::parse(R"([
    {"Service":"apid","Present":false,"State":"absent","Message":"no health report received","Epoch":0,
     "ReceivedAtUnixMs":0,"Isolation":null},
    {"Service":"wgd","Present":true,"State":"ok","Message":"","Epoch":7,"ReceivedAtUnixMs":1,
     "Isolation":{"Pid":4242,"Uid":0,"Gid":0,"NoNewPrivs":true,"CapEff":0,"CapBnd":0,"SeccompMode":2,
                  "NetnsInode":4026532000,"NonLoopbackInterfaces":[]}},
    {"Service":"ipnd","Present":true,"State":"ok","Message":"","Isolation":{"Pid":1,"Error":"cannot read"}}])");
  auto services = parseIsolationReport(report);
  ASSERT_TRUE(services) << services.error().message;
  ASSERT_EQ(services->size(), 3u);
  EXPECT_EQ((*services)[0].name, "apid");
  EXPECT_EQ((*services)[0].state, "absent");
  EXPECT_FALSE((*services)[0].facts);
  EXPECT_EQ((*services)[1].pid, 4242);
  EXPECT_EQ((*services)[1].facts->seccompMode, 2);
  EXPECT_EQ((*services)[1].facts->netnsInode, 4026532000u);
  EXPECT_FALSE((*services)[2].facts);
  EXPECT_EQ((*services)[2].factsError, "cannot read");
}

TEST(IsolationReport, RejectsWrongShapes) {
  EXPECT_FALSE(parseIsolationReport(nlohmann::json::parse(R"({"x":1})")));
  EXPECT_FALSE(parseIsolationReport(nlohmann::json::parse(R"({"Services":5})")));
  EXPECT_FALSE(parseIsolationReport(nlohmann::json::parse(R"([{"Pid":1}])")));
  EXPECT_FALSE(parseIsolationReport(nlohmann::json::parse(R"([7])")));
}

TEST(IsolationReport, ReadsProcForRealPids) {
  std::vector<ServiceIsolation> services(2);
  services[0].name = "self";
  services[0].pid = getpid();
  services[1].name = "gone";
  services[1].pid = 0;
  readFactsFromProc(services);
  ASSERT_TRUE(services[0].facts);
  EXPECT_EQ(services[0].facts->uid, geteuid());
  EXPECT_FALSE(services[1].facts);
  EXPECT_EQ(services[1].factsError, "no pid reported");
}

}  // namespace
}  // namespace tnet::cli
