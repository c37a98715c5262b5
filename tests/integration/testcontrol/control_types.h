// The control server's records: users, nodes, pre-auth keys and pending interactive logins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "libs/ipn/netip.h"
#include "libs/wire/keys.h"
#include "tests/integration/testcontrol/hostinfo_norm.h"
#include "tests/integration/testcontrol/ip_pool.h"

namespace tnet::testcontrol {

struct UserRecord {
  int64_t id = 0;
  std::string loginName, displayName;
};

struct NodeRecord {
  int64_t id = 0;
  std::string stableId;
  key::NodePublic nodeKey;
  key::MachinePublic machineKey;
  key::DiscoPublic discoKey;
  int64_t userId = 0;
  NodeAddresses addresses;
  std::optional<StoredHostinfo> hostinfo;
  std::string name;  // MagicDNS FQDN with the trailing dot
  std::vector<ipn::IpAddrPort> endpoints;
  int homeDerp = 0;
  int64_t cap = 0;
  int64_t created = 0;
  std::optional<int64_t> keyExpiry;  // nullopt = never expires
  std::optional<int64_t> lastSeen;   // set when the node goes offline
  bool online = false;               // has a streaming map poll (synthetic nodes: always)
  bool machineAuthorized = false;
  bool ephemeral = false;
  bool synthetic = false;

  bool keyExpired(int64_t now) const { return keyExpiry && *keyExpiry <= now; }
};

struct PreAuthKey {
  bool reusable = false;
  bool ephemeral = false;
  bool used = false;
};

// An interactive login waiting for approval (AuthURL "<base>/auth/<id>").
struct PendingLogin {
  std::string id;
  key::NodePublic nodeKey;
  key::NodePublic oldNodeKey;
  key::MachinePublic machineKey;
  std::optional<StoredHostinfo> hostinfo;
  bool ephemeral = false;
  int64_t capver = 0;
  int64_t created = 0;
  bool approved = false;
};

}  // namespace tnet::testcontrol
