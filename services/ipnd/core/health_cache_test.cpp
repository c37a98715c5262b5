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

TEST(HealthCache, ARestartIsAHealthLineForTenMinutes) {
  HealthCache c({"wgd"});
  int64_t now = 1'790'000'000'000;  // 2026-09-21 14:13:20 UTC
  c.setClock([&] { return now; });
  ServiceHealth h;
  h.service = "wgd";
  h.state = "ok";
  h.restarts = 2;
  h.lastExit = "signal 11 (Segmentation fault)";
  h.lastExitUnixMs = now - 4'000;  // 14:13:16
  h.receivedAtUnixMs = now;
  c.update(h);
  EXPECT_FALSE(c.expireRestartNotes());  // seen live: nothing aged out
  auto lines = c.healthLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "wgd: restarted 14:13:16 UTC after signal 11 (Segmentation fault) (restart 2)");
  EXPECT_EQ(c.restartNotes().at("wgd"), "restarted 14:13:16 UTC after signal 11 (Segmentation fault) (restart 2)");

  now = h.lastExitUnixMs + RESTART_NOTE_MS - 1;
  EXPECT_EQ(c.healthLines().size(), 1u);
  EXPECT_FALSE(c.expireRestartNotes());
  now = h.lastExitUnixMs + RESTART_NOTE_MS;
  EXPECT_TRUE(c.healthLines().empty());
  EXPECT_TRUE(c.expireRestartNotes());   // watchers must hear that the line went away
  EXPECT_FALSE(c.expireRestartNotes());  // once
  // The per-service JSON keeps the facts after the line is gone.
  auto iso = c.isolationJson();
  EXPECT_EQ(iso[0]["Restarts"], 2);
  EXPECT_EQ(iso[0]["LastExit"], "signal 11 (Segmentation fault)");
  EXPECT_EQ(iso[0]["LastExitUnixMs"], h.lastExitUnixMs);
}

TEST(HealthCache, TheNextRestartReplacesTheNoteAndAFirstStartHasNone) {
  HealthCache c({"wgd"});
  int64_t now = 1'790'000'000'000;
  c.setClock([&] { return now; });
  ServiceHealth h;
  h.service = "wgd";
  h.state = "ok";
  c.update(h);
  EXPECT_TRUE(c.healthLines().empty());
  EXPECT_EQ(c.isolationJson()[0]["Restarts"], 0);
  h.restarts = 1;
  h.lastExit = "exit 1";
  h.lastExitUnixMs = now;
  c.update(h);
  h.restarts = 2;
  h.lastExit = "signal 31 (Bad system call; killed by seccomp)";
  h.lastExitUnixMs = now + 60'000;
  now += 61'000;
  c.update(h);
  auto lines = c.healthLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "wgd: restarted 14:14:20 UTC after signal 31 (Bad system call; killed by seccomp) (restart 2)");
  // A restarted service that is also unwell gets both lines.
  h.state = "degraded";
  h.message = "no DERP";
  c.update(h);
  lines = c.healthLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "wgd: degraded: no DERP");
  // Unknown exit time: the note runs from when ipnd heard of it and names no time.
  h.state = "ok";
  h.lastExitUnixMs = 0;
  h.receivedAtUnixMs = now;
  c.update(h);
  EXPECT_EQ(c.healthLines().at(0), "wgd: restarted after signal 31 (Bad system call; killed by seccomp) (restart 2)");
  now += RESTART_NOTE_MS - 1;
  h.receivedAtUnixMs = now;  // the same process reporting again does not restart the clock
  c.update(h);
  EXPECT_EQ(c.healthLines().size(), 1u);
  now += 1;
  EXPECT_TRUE(c.healthLines().empty());
}

}  // namespace
}  // namespace tnet::ipnd
