// The system users the services run as when tailnetd is root (packaging/sysusers.d/tailnetd.conf).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "libs/base/result.h"
#include "supervisor/service_table.h"

namespace tnet::supervisor {

struct ServiceUsers {
  gid_t group = 0;
  std::map<std::string, uid_t> uids;  // service name → uid
};

// Looks up `group` and every service's user. A missing one fails with a line naming the
// command that creates them; a user with uid 0 is refused.
Result<ServiceUsers> lookupServiceUsers(const std::vector<ServiceInfo>& services, const std::string& group);

}  // namespace tnet::supervisor
