#include "services/apid/core/watch_session.h"

#include <gtest/gtest.h>

#include <string>

#include "services/apid/core/notify_filter.h"
#include "services/apid/core/watch_mask.h"

namespace tnet::apid {
namespace {

std::string ev(int n) {
  return "{\"Version\":\"v\",\"State\":" + std::to_string(n) + "}";
}

TEST(WatchSession, NothingBeforeIpndAnswers) {
  WatchSession s(0, "v");
  s.onEvent(5, ev(5));
  EXPECT_FALSE(s.next());
  EXPECT_FALSE(s.finished());
}

TEST(WatchSession, InitialFirstThenOnlyNewerEvents) {
  WatchSession s(NOTIFY_INITIAL_STATE, "v");
  s.onEvent(4, ev(4));  // raced ahead of ipnd's reply, already reflected in the initial Notify
  s.onEvent(6, ev(6));  // newer than the initial: must come after it
  s.start("{\"Version\":\"v\",\"State\":2}", 5);
  s.onEvent(5, ev(5));  // stale duplicate
  s.onEvent(7, ev(7));
  EXPECT_EQ(*s.next(), "{\"Version\":\"v\",\"State\":2}\n");
  EXPECT_EQ(*s.next(), ev(6) + "\n");
  EXPECT_EQ(*s.next(), ev(7) + "\n");
  EXPECT_FALSE(s.next());
}

TEST(WatchSession, MaskZeroHasNoInitialMessage) {
  WatchSession s(0, "v");
  s.start("", 10);
  EXPECT_FALSE(s.next());
  s.onEvent(11, ev(1));
  EXPECT_EQ(*s.next(), ev(1) + "\n");
}

TEST(WatchSession, SequenceGapCutsTheWatcherOff) {
  WatchSession s(0, "v");
  s.start("", 10);
  s.onEvent(11, ev(11));
  s.onEvent(13, ev(13));  // 12 was lost on the bus
  EXPECT_TRUE(s.fellBehind());
  EXPECT_EQ(*s.next(), errorNotifyJson("v", FELL_BEHIND_MESSAGE) + "\n");
  EXPECT_TRUE(s.finished());
}

TEST(WatchSession, GapAmongEventsBufferedBeforeStartIsCaught) {
  WatchSession s(0, "v");
  s.onEvent(6, ev(6));
  s.onEvent(8, ev(8));
  s.start("", 5);
  EXPECT_TRUE(s.fellBehind());
  WatchSession ok(0, "v");
  ok.onEvent(4, ev(4));  // covered by the initial Notify: no gap
  ok.onEvent(6, ev(6));
  ok.start("", 5);
  EXPECT_FALSE(ok.fellBehind());
  EXPECT_EQ(*ok.next(), ev(6) + "\n");
}

TEST(WatchSession, EventsAreShapedByMask) {
  WatchSession s(0, "v");
  s.start("", 0);
  s.onEvent(1, R"({"Version":"v","PeersChanged":[1]})");
  EXPECT_EQ(*s.next(), "{\"Version\":\"v\"}\n");
  s.onEvent(2, "not json");  // dropped, never forwarded (its number still counts)
  EXPECT_FALSE(s.next());
  s.onEvent(3, "{}");
  EXPECT_EQ(*s.next(), "{}\n");
  EXPECT_FALSE(s.fellBehind());
}

TEST(WatchSession, FullQueueCutsTheWatcherOffLikeGo) {
  WatchSession s(0, "v", 4);
  s.start("", 0);
  for (int i = 1; i <= 4; ++i) s.onEvent(i, ev(i));
  EXPECT_FALSE(s.fellBehind());
  s.onEvent(5, ev(5));
  EXPECT_TRUE(s.fellBehind());
  EXPECT_EQ(s.queued(), 1u);
  EXPECT_EQ(*s.next(), errorNotifyJson("v", FELL_BEHIND_MESSAGE) + "\n");
  EXPECT_TRUE(s.finished());
  s.onEvent(6, ev(6));
  EXPECT_FALSE(s.next());
}

TEST(WatchSession, DrainingKeepsUpWithinTheLimit) {
  WatchSession s(0, "v", 128);
  s.start("", 0);
  for (int i = 1; i <= 1000; ++i) {
    s.onEvent(i, ev(i));
    ASSERT_TRUE(s.next());
  }
  EXPECT_FALSE(s.fellBehind());
}

TEST(WatchSession, DefaultCapacityIs128) {
  WatchSession s(0, "v");
  s.start("", 0);
  for (int i = 1; i <= 128; ++i) s.onEvent(i, ev(i));
  EXPECT_FALSE(s.fellBehind());
  s.onEvent(129, ev(129));
  EXPECT_TRUE(s.fellBehind());
}

TEST(WatchSession, EndFlushesQueueThenFinishes) {
  WatchSession s(0, "v");
  s.start("", 0);
  s.onEvent(1, ev(1));
  s.end();
  s.onEvent(2, ev(2));
  EXPECT_FALSE(s.finished());
  EXPECT_EQ(*s.next(), ev(1) + "\n");
  EXPECT_TRUE(s.finished());
}

TEST(WatchSession, EndBeforeStartSendsNothing) {
  WatchSession s(0, "v");
  s.onEvent(1, ev(1));
  s.end();
  EXPECT_FALSE(s.next());
  EXPECT_TRUE(s.finished());
}

}  // namespace
}  // namespace tnet::apid
