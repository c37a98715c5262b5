// wireguard-go's replay/replay_test.go sequence (ported there from the Linux kernel), step by step.
#include "services/wgd/core/replay.h"

#include <gtest/gtest.h>

#include "services/wgd/core/constants.h"

namespace tnet::wg {
namespace {

class ReplaySequence : public ::testing::Test {
 protected:
  void T(uint64_t n, bool expected) {
    ++step_;
    EXPECT_EQ(filter_.validateCounter(n, REJECT_AFTER_MESSAGES), expected)
        << "step " << step_ << " counter " << n;
  }
  void reset() {
    filter_.reset();
    step_ = 0;
  }
  ReplayFilter filter_;
  int step_ = 0;
};

constexpr uint64_t T_LIM = ReplayFilter::WINDOW_SIZE + 1;

TEST_F(ReplaySequence, WindowIsTheKernelSize) {
  EXPECT_EQ(ReplayFilter::WINDOW_SIZE, 8128u);
  EXPECT_GE(ReplayFilter::WINDOW_SIZE, 2048u);
}

TEST_F(ReplaySequence, KernelSequence) {
  reset();
  T(0, true);                          /*  1 */
  T(1, true);                          /*  2 */
  T(1, false);                         /*  3 */
  T(9, true);                          /*  4 */
  T(8, true);                          /*  5 */
  T(7, true);                          /*  6 */
  T(7, false);                         /*  7 */
  T(T_LIM, true);                      /*  8 */
  T(T_LIM - 1, true);                  /*  9 */
  T(T_LIM - 1, false);                 /* 10 */
  T(T_LIM - 2, true);                  /* 11 */
  T(2, true);                          /* 12 */
  T(2, false);                         /* 13 */
  T(T_LIM + 16, true);                 /* 14 */
  T(3, false);                         /* 15 */
  T(T_LIM + 16, false);                /* 16 */
  T(T_LIM * 4, true);                  /* 17 */
  T(T_LIM * 4 - (T_LIM - 1), true);    /* 18 */
  T(10, false);                        /* 19 */
  T(T_LIM * 4 - T_LIM, false);         /* 20 */
  T(T_LIM * 4 - (T_LIM + 1), false);   /* 21 */
  T(T_LIM * 4 - (T_LIM - 2), true);    /* 22 */
  T(T_LIM * 4 + 1 - T_LIM, false);     /* 23 */
  T(0, false);                         /* 24 */
  T(REJECT_AFTER_MESSAGES, false);     /* 25 */
  T(REJECT_AFTER_MESSAGES - 1, true);  /* 26 */
  T(REJECT_AFTER_MESSAGES, false);     /* 27 */
  T(REJECT_AFTER_MESSAGES - 1, false); /* 28 */
  T(REJECT_AFTER_MESSAGES - 2, true);  /* 29 */
  T(REJECT_AFTER_MESSAGES + 1, false); /* 30 */
  T(REJECT_AFTER_MESSAGES + 2, false); /* 31 */
  T(REJECT_AFTER_MESSAGES - 2, false); /* 32 */
  T(REJECT_AFTER_MESSAGES - 3, true);  /* 33 */
  T(0, false);                         /* 34 */
}

TEST_F(ReplaySequence, BulkAscendingThenZero) {
  reset();
  for (uint64_t i = 1; i <= ReplayFilter::WINDOW_SIZE; ++i) T(i, true);
  T(0, true);
  T(0, false);
}

TEST_F(ReplaySequence, BulkAscendingFromTwoThenOne) {
  reset();
  for (uint64_t i = 2; i <= ReplayFilter::WINDOW_SIZE + 1; ++i) T(i, true);
  T(1, true);
  T(0, false);
}

TEST_F(ReplaySequence, BulkDescending) {
  reset();
  for (uint64_t i = ReplayFilter::WINDOW_SIZE + 1; i > 0; --i) T(i, true);
}

TEST_F(ReplaySequence, BulkDescendingFromTwoPastWindow) {
  reset();
  for (uint64_t i = ReplayFilter::WINDOW_SIZE + 2; i > 1; --i) T(i, true);
  T(0, false);
}

TEST_F(ReplaySequence, BulkDescendingThenAdvance) {
  reset();
  for (uint64_t i = ReplayFilter::WINDOW_SIZE; i > 0; --i) T(i, true);
  T(ReplayFilter::WINDOW_SIZE + 1, true);
  T(0, false);
}

TEST_F(ReplaySequence, BulkDescendingZeroThenAdvance) {
  reset();
  for (uint64_t i = ReplayFilter::WINDOW_SIZE; i > 0; --i) T(i, true);
  T(0, true);
  T(ReplayFilter::WINDOW_SIZE + 1, true);
}

}  // namespace
}  // namespace tnet::wg
