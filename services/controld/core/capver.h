// The tailcfg.CapabilityVersion this client claims, in RegisterRequest.Version, MapRequest.Version
// and (through the app) the Noise prologue and /key?v=. docs/control.md explains the choice: every
// semantic Go's history lists at or below this number is one the core implements or one that only
// names a node attribute we do not act on.
#pragma once

#include "libs/ipn/capver.h"

namespace tnet::controld {

inline constexpr int CAPABILITY_VERSION = ipn::CAPABILITY_VERSION;

}  // namespace tnet::controld
