#include "libs/ipn/state.h"

#include <array>

namespace tnet::ipn {

namespace {
constexpr std::array<std::string_view, 7> NAMES = {
    "NoState", "InUseOtherUser", "NeedsLogin", "NeedsMachineAuth", "Stopped", "Starting", "Running",
};
}

std::string_view stateName(State s) {
  auto i = static_cast<size_t>(s);
  return i < NAMES.size() ? NAMES[i] : std::string_view("NoState");
}

std::optional<State> stateFromName(std::string_view name) {
  for (size_t i = 0; i < NAMES.size(); ++i) {
    if (NAMES[i] == name) return static_cast<State>(i);
  }
  return std::nullopt;
}

}  // namespace tnet::ipn
