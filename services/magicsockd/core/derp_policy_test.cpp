#include "services/magicsockd/core/derp_policy.h"

#include <gtest/gtest.h>

#include "services/magicsockd/core/constants.h"
#include "services/magicsockd/core/test_util.h"

namespace tnet::magicsock {
namespace {

using namespace std::chrono_literals;
using testing::at;

template <typename T>
std::vector<T> only(const std::vector<DerpAction>& actions) {
  std::vector<T> r;
  for (const auto& a : actions) {
    if (const T* t = std::get_if<T>(&a)) r.push_back(*t);
  }
  return r;
}

TEST(ReconnectBackoff, SquaredTensOfMillisCappedAt5sWithJitter) {
  double u = 0.5;  // factor 1.0
  ReconnectBackoff b([&] { return u; }, DERP_RECONNECT_MAX_BACKOFF);
  EXPECT_EQ(b.nextDelay(), 10ms);
  EXPECT_EQ(b.nextDelay(), 40ms);
  EXPECT_EQ(b.nextDelay(), 90ms);
  for (int i = 0; i < 30; i++) (void)b.nextDelay();
  EXPECT_EQ(b.nextDelay(), 5s);
  u = 0.0;
  EXPECT_EQ(b.nextDelay(), 2500ms);
  u = 0.999;
  EXPECT_LT(b.nextDelay(), 7500ms);
  b.reset();
  u = 0.5;
  EXPECT_EQ(b.nextDelay(), 10ms);
}

TEST(HomeRegion, Rules) {
  DerpMap dm;
  dm.regions[1].nodes.push_back(DerpNode{});
  dm.regions[2].nodes.push_back(DerpNode{});
  dm.regions[3].noMeasureNoHome = true;
  dm.regions[3].nodes.push_back(DerpNode{});
  auto pickLast = [](size_t n) { return n - 1; };
  EXPECT_EQ(chooseHomeRegion(2, 1, true, dm, pickLast), 2);
  EXPECT_EQ(chooseHomeRegion(0, 1, true, dm, pickLast), 1);   // no preference: keep
  EXPECT_EQ(chooseHomeRegion(0, 0, true, dm, pickLast), 2);   // random among measurable (not 3)
  EXPECT_EQ(chooseHomeRegion(2, 1, false, dm, pickLast), 1);  // no control: don't move
  EXPECT_EQ(chooseHomeRegion(2, 0, false, dm, pickLast), 2);  // ... unless there is no home
  EXPECT_EQ(chooseHomeRegion(0, 0, true, DerpMap{}, pickLast), 0);
}

TEST(DerpPolicy, NotePreferredOnlyForHome) {
  DerpConnectionPolicy p([] { return 0.5; });
  std::vector<DerpAction> out;
  p.setHome(at(0s), 1, out);
  ASSERT_EQ(only<ConnectRegion>(out).size(), 1u);
  out.clear();
  p.noteConnected(at(100ms), 1, out);
  auto np = only<SendNotePreferred>(out);
  ASSERT_EQ(np.size(), 1u);
  EXPECT_EQ(np[0].region, 1);
  EXPECT_TRUE(np[0].preferred);

  out.clear();
  p.noteWrite(at(1s), 2, out);  // a peer lives in region 2
  p.noteConnected(at(1100ms), 2, out);
  EXPECT_TRUE(only<SendNotePreferred>(out).empty());

  out.clear();
  p.setHome(at(2s), 2, out);
  np = only<SendNotePreferred>(out);
  ASSERT_EQ(np.size(), 2u);
  for (const auto& n : np) EXPECT_EQ(n.preferred, n.region == 2);
}

TEST(DerpPolicy, IdleNonHomeClosedAfter60sHomeKept) {
  DerpConnectionPolicy p([] { return 0.5; });
  std::vector<DerpAction> out;
  p.setHome(at(0s), 1, out);
  p.noteConnected(at(0s), 1, out);
  p.noteWrite(at(0s), 2, out);
  p.noteConnected(at(0s), 2, out);
  MonoTime t = at(0s);
  MonoTime closedAt = NEVER;
  while (t < at(200s)) {
    t = p.nextDeadline();
    p.noteRead(t, 1);  // keepalives arrive on both
    p.noteRead(t, 2);
    out.clear();
    p.tick(t, out);
    for (const auto& c : only<CloseRegion>(out)) {
      EXPECT_EQ(c.region, 2);
      EXPECT_STREQ(c.reason, "idle");
      closedAt = t;
    }
    if (closedAt != NEVER) break;
  }
  // Checked every 15 s, closed once idle > 60 s: at the 75 s check.
  EXPECT_EQ(closedAt, at(75s));
  EXPECT_TRUE(p.isOpen(1));
  EXPECT_FALSE(p.isOpen(2));
}

TEST(DerpPolicy, HomeReconnectsWithBackoffAndReadTimeout) {
  DerpConnectionPolicy p([] { return 0.5; });
  std::vector<DerpAction> out;
  p.setHome(at(0s), 1, out);
  p.noteConnected(at(0s), 1, out);
  // No frames for 120 s: closed and reconnected after the first backoff step.
  out.clear();
  EXPECT_EQ(p.nextDeadline(), at(0s) + DERP_CLEAN_STALE_INTERVAL);
  p.tick(at(15s), out);  // only the home is open: the stale check stops rescheduling
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(p.nextDeadline(), at(0s) + DERP_CLIENT_READ_TIMEOUT);
  p.tick(at(120s), out);
  ASSERT_EQ(only<CloseRegion>(out).size(), 1u);
  EXPECT_STREQ(only<CloseRegion>(out)[0].reason, "read-timeout");
  EXPECT_EQ(p.nextDeadline(), at(120s) + 10ms);
  out.clear();
  p.tick(at(120s) + 10ms, out);
  ASSERT_EQ(only<ConnectRegion>(out).size(), 1u);
  // Failing again: 40 ms, then 90 ms.
  p.noteDisconnected(at(121s), 1);
  EXPECT_EQ(p.nextDeadline(), at(121s) + 40ms);
  out.clear();
  p.tick(at(121s) + 40ms, out);
  p.noteDisconnected(at(122s), 1);
  EXPECT_EQ(p.nextDeadline(), at(122s) + 90ms);
  // Success resets the schedule.
  out.clear();
  p.tick(at(122s) + 90ms, out);
  p.noteConnected(at(123s), 1, out);
  p.noteDisconnected(at(124s), 1);
  EXPECT_EQ(p.nextDeadline(), at(124s) + 10ms);
}

TEST(DerpPolicy, NonHomeReconnectsOnlyOnWrite) {
  DerpConnectionPolicy p([] { return 0.5; });
  std::vector<DerpAction> out;
  p.setHome(at(0s), 1, out);
  p.noteWrite(at(0s), 2, out);
  p.noteDisconnected(at(1s), 2);
  out.clear();
  p.tick(at(2s), out);
  EXPECT_TRUE(only<ConnectRegion>(out).empty());
  p.noteWrite(at(3s), 2, out);
  auto c = only<ConnectRegion>(out);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].region, 2);
}

}  // namespace
}  // namespace tnet::magicsock
