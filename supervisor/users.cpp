#include "supervisor/users.h"

#include <grp.h>
#include <pwd.h>

namespace tnet::supervisor {

Result<ServiceUsers> lookupServiceUsers(const std::vector<ServiceInfo>& services, const std::string& group) {
  const std::string hint = "; create the users with: systemd-sysusers packaging/sysusers.d/tailnetd.conf";
  ServiceUsers u;
  struct group* g = getgrnam(group.c_str());
  if (g == nullptr) return Error::failed("group " + group + " does not exist" + hint);
  u.group = g->gr_gid;
  for (const auto& s : services) {
    struct passwd* pw = getpwnam(s.user.c_str());
    if (pw == nullptr) return Error::failed("user " + s.user + " does not exist" + hint);
    if (pw->pw_uid == 0)
      return Error::invalid("user " + s.user + " has uid 0; refusing to run " + s.name + " as root");
    u.uids[s.name] = pw->pw_uid;
  }
  return u;
}

}  // namespace tnet::supervisor
