// The services the supervisor runs, in start order, with what each may receive. Users and
// environment allow-lists come from the bus manifest (schemas/bus_manifest.capnp); the network
// policy mirrors the systemd units (PrivateNetwork=yes for wgd, ipnd, apid).
#pragma once

#include <string>
#include <vector>

namespace tnet::supervisor {

struct ServiceInfo {
  std::string name;
  std::string user;                         // tailnetd-<svc> (root mode)
  std::vector<std::string> environment;     // allow-list: names, or prefixes ending in '*'
  bool privateNetwork = false;              // own network namespace when started by root
  bool privateNetworkUnprivileged = false;  // user+network namespace when not root (if allowed)
};

// Start order: the services ipnd calls first, then ipnd, then apid (the front door) last.
// Stop order is the reverse.
const std::vector<ServiceInfo>& serviceTable();
const ServiceInfo* findService(const std::string& name);

// The group every service user has as its primary group.
std::string serviceGroup();

// The "NAME=value" entries of environ whose NAME the allow-list admits.
std::vector<std::string> filterEnvironment(const std::vector<std::string>& environ,
                                           const std::vector<std::string>& allow);

}  // namespace tnet::supervisor
