#include "services/ipnd/core/state_machine.h"

namespace tnet::ipnd {

using ipn::State;

bool authCantContinue(const StateFacts& f) {
  if (!f.controlClientStarted) return true;
  return !f.controlLoggedIn && (!f.loginGoalPending || f.loginWaitingForUrl);
}

State nextState(const StateFacts& f, State current) {
  if (!f.stateStoreHealthy) return State::NO_STATE;
  if (!f.wantRunning && !f.loggedOut && !f.engineBlocked && f.haveNodeKey) return State::STOPPED;
  if (!f.haveNetmap) {
    // Without a netmap: human help is needed if auth cannot continue or the user logged out.
    if ((f.controlClientStarted && authCantContinue(f)) || f.loggedOut) return State::NEEDS_LOGIN;
    switch (current) {
      case State::STOPPED:
        return State::STARTING;  // auth was fine when we stopped
      case State::NO_STATE:
        return State::NO_STATE;  // first contact with control pending
      default:
        return current;  // Starting, Running, NeedsLogin, …
    }
  }
  if (!f.wantRunning) return State::STOPPED;
  if (f.keyExpired) return State::NEEDS_LOGIN;
  if (!f.machineAuthorized) return State::NEEDS_MACHINE_AUTH;
  if (current == State::NEEDS_MACHINE_AUTH) return State::STARTING;
  if (current == State::STARTING) {
    bool live = f.numLivePeers > 0 || f.liveDerps > 0;  // Go's NumLive / LiveDERPs
    return live ? State::RUNNING : State::STARTING;
  }
  if (current == State::RUNNING) return State::RUNNING;
  return State::STARTING;
}

}  // namespace tnet::ipnd
