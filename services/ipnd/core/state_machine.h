// The backend state as Go's LocalBackend.nextStateLocked derives it (ipn/ipnlocal/local.go):
// a pure function of facts and the current state. Go's rule depends on the current state in
// three places (Stopped→Starting without a netmap, NeedsMachineAuth→Starting, and
// Starting→Running only once the data plane is live), so the caller keeps the current state and
// re-evaluates after every event; nothing else about the state is stored.
#pragma once

#include "libs/ipn/state.h"

namespace tnet::ipnd {

struct StateFacts {
  bool stateStoreHealthy = true;  // prefs could be loaded (or recovered); false → NoState
  bool wantRunning = false;       // Prefs.WantRunning
  bool loggedOut = false;         // Prefs.LoggedOut
  bool engineBlocked = false;     // Go's b.blocked: set on entering NeedsLogin, cleared on login
  bool haveNodeKey = false;       // control accepted a node key that ipnd persisted
  // The control client (Go's cc): exists once the backend was started.
  bool controlClientStarted = false;
  bool controlLoggedIn = false;     // control reported LoggedIn in this session
  bool loginGoalPending = false;    // a Login() is in progress (Go's loginGoal != nil)
  bool loginWaitingForUrl = false;  // that login is waiting on an auth URL visit
  bool haveNetmap = false;          // a netmap arrived
  bool keyExpired = false;          // self node key expired (per the netmap)
  bool machineAuthorized = false;   // self node MachineAuthorized in the netmap
  int numLivePeers = 0;             // engine status: peers with a recent handshake
  int liveDerps = 0;                // engine status: connected DERP regions
};

// Go's controlclient.Auto.AuthCantContinue (true when there is no control client).
bool authCantContinue(const StateFacts& f);

// Go's nextStateLocked.
ipn::State nextState(const StateFacts& f, ipn::State current);

}  // namespace tnet::ipnd
