// ControlServer's shared pieces: construction, node lookup, the helpers its files share
// (control_server_helpers.h). The protocol handlers are in control_server_register.cpp and
// control_server_map.cpp, the admin API in control_server_admin.cpp and
// control_server_admin_http.cpp, the saved state in control_server_state.cpp.
#include "tests/integration/testcontrol/control_server.h"

#include <algorithm>
#include <cassert>
#include <cstdio>

#include "libs/base/bytes.h"
#include "libs/crypto/crypto.h"
#include "libs/ipn/capver.h"
#include "services/controld/core/go_time.h"
#include "tests/integration/testcontrol/control_server_helpers.h"

namespace tnet::testcontrol {

std::string randomHex(size_t bytes) {
  Bytes b(bytes);
  crypto::randomBytes(b);
  return hexEncode(b);
}

std::string loginIdOf(std::string_view s) {
  auto at = s.find("/auth/");
  if (at != std::string_view::npos) s.remove_prefix(at + 6);
  auto end = s.find_first_of("?#/");
  if (end != std::string_view::npos) s = s.substr(0, end);
  return std::string(s);
}

HttpReply httpError(int status, std::string_view message) {
  return {status, "text/plain; charset=utf-8", std::string(message) + "\n"};
}

ControlServer::ControlServer(ControlOptions options) : opts_(std::move(options)) {
  assert(opts_.wallNow && opts_.monoNowMs);
  user_ = {1, "user-1@" + opts_.domain, "User 1"};
}

ControlServer::~ControlServer() = default;

// ---------------------------------------------------------------------------- lookup

ControlServer::NodeEntry* ControlServer::entryById(int64_t id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

ControlServer::NodeEntry* ControlServer::entryByKey(const key::NodePublic& k) {
  auto it = byKey_.find(k);
  return it == byKey_.end() ? nullptr : entryById(it->second);
}

const NodeRecord* ControlServer::nodeById(int64_t id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second.rec;
}

const NodeRecord* ControlServer::nodeByKey(const key::NodePublic& k) const {
  auto it = byKey_.find(k);
  return it == byKey_.end() ? nullptr : nodeById(it->second);
}

}  // namespace tnet::testcontrol
