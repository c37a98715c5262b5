#include "cli/version_info.h"

#ifndef TNET_VERSION
#error "TNET_VERSION must come from the build (tnet_flags)"
#endif
#ifndef TNET_GIT_COMMIT
#define TNET_GIT_COMMIT ""
#endif

namespace tnet::cli {

std::string shortVersion() {
  return TNET_VERSION;
}

std::string majorMinorPatch() {
  std::string v = TNET_VERSION;
  return v.substr(0, v.find('-'));
}

std::string longVersion() {
  std::string commit = TNET_GIT_COMMIT;
  if (commit.empty()) return shortVersion();
  return shortVersion() + "-g" + commit.substr(0, 12);
}

nlohmann::ordered_json versionJson(const std::string& daemonLong) {
  nlohmann::ordered_json j;
  j["majorMinorPatch"] = majorMinorPatch();
  j["short"] = shortVersion();
  j["long"] = longVersion();
  std::string commit = TNET_GIT_COMMIT;
  if (!commit.empty()) j["gitCommit"] = commit;
  if (!daemonLong.empty()) j["daemonLong"] = daemonLong;
  j["cap"] = CAPABILITY_VERSION;
  return j;
}

std::string versionText() {
  std::string out = shortVersion() + "\n";
  std::string commit = TNET_GIT_COMMIT;
  if (!commit.empty()) out += "  tailnetd commit: " + commit + "\n";
  out += "  long version: " + longVersion();
  return out;
}

}  // namespace tnet::cli
