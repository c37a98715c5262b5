#include "services/ipnd/core/health_cache.h"

#include <gtest/gtest.h>

namespace tnet::ipnd {
namespace {

TEST(HealthCache, MissingServicesAreAbsentWithAHealthLine) {
  HealthCache c({"apid", "wgd"});
  auto lines = c.healthLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "apid: no health report received");
  ServiceHealth h;
  h.service = "wgd";
  h.state = "ok";
  h.isolation = ipn::OrderedJson{{"uid", 1000}, {"noNewPrivs", true}};
  h.epoch = 7;
  c.update(h);
  lines = c.healthLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "apid: no health report received");
  h.state = "degraded";
  h.message = "no DERP";
  c.update(h);
  lines = c.healthLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "wgd: degraded: no DERP");

  auto iso = c.isolationJson();
  ASSERT_EQ(iso.size(), 2u);
  EXPECT_EQ(iso[0]["Service"], "apid");
  EXPECT_EQ(iso[0]["Present"], false);
  EXPECT_TRUE(iso[0]["Isolation"].is_null());
  EXPECT_EQ(iso[1]["Service"], "wgd");
  EXPECT_EQ(iso[1]["Isolation"]["uid"], 1000);
  EXPECT_EQ(iso[1]["Epoch"], 7);
}

TEST(HealthCache, ViolationsAreCountedAndReported) {
  HealthCache c({"wgd"});
  c.recordViolation("wgd", {"netstackd", 1005, 42, "wgd.prepareNodeKey"});
  c.recordViolation("wgd", {"", 1234, 43, "wgd.commitNodeKey"});
  auto lines = c.healthLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1], "wgd: denied 2 request(s); last unknown caller (uid 1234) called wgd.commitNodeKey");
  auto iso = c.isolationJson();
  ASSERT_EQ(iso.size(), 1u);
  EXPECT_EQ(iso[0]["Violations"], 2);
  EXPECT_EQ(iso[0]["LastViolation"]["Uid"], 1234);
  EXPECT_EQ(iso[0]["LastViolation"]["Method"], "wgd.commitNodeKey");
}

}  // namespace
}  // namespace tnet::ipnd
