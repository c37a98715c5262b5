#include <pwd.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "libs/bus/bus.h"
#include "libs/bus/manifest.h"

namespace tnet::bus {

std::string identityForUid(uint32_t uid) {
  if (uid == 0) return std::string(manifest::OPERATOR);
  // getpwuid_r: the ZAP handler may run while other code holds a getpw* result.
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* result = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr) {
    std::string name = result->pw_name;
    for (const auto& svc : manifest::serviceNames()) {
      if (manifest::userName(svc) == name) return svc;
    }
  }
  // Not root: the whole suite runs as one uid, which is the operator's (ACLs are advisory).
  if (geteuid() != 0 && uid == geteuid()) return std::string(manifest::OPERATOR);
  return {};
}

}  // namespace tnet::bus
