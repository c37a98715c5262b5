#include "services/ipnd/core/state_machine.h"

#include <gtest/gtest.h>

#include <set>

namespace tnet::ipnd {
namespace {

using ipn::State;

// Shorthands for the facts each row sets.
StateFacts base() {
  StateFacts f;
  f.controlClientStarted = true;
  return f;
}

struct Row {
  const char* why;
  StateFacts facts;
  State current;
  State want;
};

StateFacts with(std::initializer_list<bool StateFacts::*> flags, StateFacts f = base()) {
  for (auto flag : flags) f.*flag = true;
  return f;
}

TEST(StateMachine, TableFollowsGoNextStateLocked) {
  using F = StateFacts;
  StateFacts unhealthy = with({&F::wantRunning, &F::haveNodeKey});
  unhealthy.stateStoreHealthy = false;
  StateFacts noClient;  // before start: no control client
  StateFacts netmapRunning =
      with({&F::wantRunning, &F::haveNodeKey, &F::controlLoggedIn, &F::haveNetmap, &F::machineAuthorized});
  StateFacts live = netmapRunning;
  live.liveDerps = 1;
  StateFacts livePeer = netmapRunning;
  livePeer.numLivePeers = 2;

  const Row rows[] = {
      {"store unhealthy beats everything", unhealthy, State::RUNNING, State::NO_STATE},
      {"fresh node, started, no key, no login goal", base(), State::NO_STATE, State::NEEDS_LOGIN},
      {"fresh node wants running: still NeedsLogin", with({&F::wantRunning}), State::NO_STATE,
       State::NEEDS_LOGIN},
      {"fresh node down: never Stopped without a node key", base(), State::NEEDS_LOGIN, State::NEEDS_LOGIN},
      {"login goal in progress keeps NeedsLogin", with({&F::loginGoalPending, &F::wantRunning}),
       State::NEEDS_LOGIN, State::NEEDS_LOGIN},
      {"login goal in progress from NoState stays NoState",
       with({&F::loginGoalPending, &F::wantRunning, &F::haveNodeKey}), State::NO_STATE, State::NO_STATE},
      {"waiting for auth URL visit", with({&F::loginGoalPending, &F::loginWaitingForUrl}), State::NO_STATE,
       State::NEEDS_LOGIN},
      {"no control client, no netmap: keep current", noClient, State::NO_STATE, State::NO_STATE},
      {"logged out", with({&F::loggedOut, &F::haveNodeKey, &F::loginGoalPending}), State::RUNNING,
       State::NEEDS_LOGIN},
      {"have key, not wanted → Stopped", with({&F::haveNodeKey, &F::controlLoggedIn}), State::RUNNING,
       State::STOPPED},
      {"have key, not wanted, engine blocked → not Stopped", with({&F::haveNodeKey, &F::engineBlocked}),
       State::NEEDS_LOGIN, State::NEEDS_LOGIN},
      {"restart from Stopped without netmap → Starting",
       with({&F::wantRunning, &F::haveNodeKey, &F::loginGoalPending}), State::STOPPED, State::STARTING},
      {"Starting without netmap stays", with({&F::wantRunning, &F::haveNodeKey, &F::controlLoggedIn}),
       State::STARTING, State::STARTING},
      {"in use by other user (Windows) is kept", with({&F::loginGoalPending}), State::IN_USE_OTHER_USER,
       State::IN_USE_OTHER_USER},
      {"netmap, logged out and not wanted → Stopped",
       with({&F::haveNetmap, &F::loggedOut, &F::machineAuthorized}), State::RUNNING, State::STOPPED},
      {"netmap, not wanted, no key → Stopped", with({&F::haveNetmap, &F::machineAuthorized}), State::RUNNING,
       State::STOPPED},
      {"key expired → NeedsLogin",
       with({&F::wantRunning, &F::haveNodeKey, &F::haveNetmap, &F::keyExpired, &F::machineAuthorized}),
       State::RUNNING, State::NEEDS_LOGIN},
      {"machine not authorized", with({&F::wantRunning, &F::haveNodeKey, &F::haveNetmap}), State::NO_STATE,
       State::NEEDS_MACHINE_AUTH},
      {"machine approved → Starting", netmapRunning, State::NEEDS_MACHINE_AUTH, State::STARTING},
      {"first netmap from NoState → Starting", live, State::NO_STATE, State::STARTING},
      {"first netmap from NeedsLogin → Starting", netmapRunning, State::NEEDS_LOGIN, State::STARTING},
      {"Starting, data plane not live", netmapRunning, State::STARTING, State::STARTING},
      {"Starting, live DERP → Running", live, State::STARTING, State::RUNNING},
      {"Starting, live peer → Running", livePeer, State::STARTING, State::RUNNING},
      {"Running stays Running even if live count drops", netmapRunning, State::RUNNING, State::RUNNING},
      {"Stopped with netmap and wanted → Starting", live, State::STOPPED, State::STARTING},
  };
  std::set<State> produced;
  for (const auto& row : rows) {
    EXPECT_EQ(nextState(row.facts, row.current), row.want)
        << row.why << ": got " << ipn::stateName(nextState(row.facts, row.current)) << ", want "
        << ipn::stateName(row.want);
    produced.insert(row.want);
  }
  EXPECT_EQ(produced.size(), 7u) << "the table covers all seven states";
}

TEST(StateMachine, AuthCantContinue) {
  StateFacts f;
  EXPECT_TRUE(authCantContinue(f)) << "no control client";
  f.controlClientStarted = true;
  EXPECT_TRUE(authCantContinue(f)) << "no login goal";
  f.loginGoalPending = true;
  EXPECT_FALSE(authCantContinue(f));
  f.loginWaitingForUrl = true;
  EXPECT_TRUE(authCantContinue(f));
  f.controlLoggedIn = true;
  EXPECT_FALSE(authCantContinue(f));
}

}  // namespace
}  // namespace tnet::ipnd
