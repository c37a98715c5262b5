// Internal to ControlServer: what its files (control_server*.cpp) share.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tnet::testcontrol {

inline constexpr size_t MAX_SYNTHETIC_PEERS = 100'000;
// Interactive logins nobody approved are dropped oldest-first past this many, so clients that
// register fresh keys without an auth key cannot grow the server without bound.
inline constexpr size_t MAX_PENDING_LOGINS = 4096;

std::string randomHex(size_t bytes);
// The "<id>" of an AuthURL "<base>/auth/<id>", a path "/auth/<id>" or a bare id.
std::string loginIdOf(std::string_view s);

}  // namespace tnet::testcontrol
