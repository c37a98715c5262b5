// Go's ipn.State: the numbers travel in Notify.State, the names in Status.BackendState.
#pragma once

#include <optional>
#include <string_view>

namespace tnet::ipn {

enum class State : int {
  NO_STATE = 0,
  IN_USE_OTHER_USER = 1,
  NEEDS_LOGIN = 2,
  NEEDS_MACHINE_AUTH = 3,
  STOPPED = 4,
  STARTING = 5,
  RUNNING = 6,
};

std::string_view stateName(State s);                        // "NoState" … "Running"
std::optional<State> stateFromName(std::string_view name);  // Go's StateFromString

}  // namespace tnet::ipn
