// `tnet debug isolation`: each service's confinement, from GET /localapi/v0/tailnetd/isolation
// (pids and the services' own health reports) or, as root, read from /proc by tnet itself.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/result.h"
#include "libs/sandbox/isolation.h"

namespace tnet::cli {

struct ServiceIsolation {
  std::string name;
  int pid = 0;
  std::string state;    // the service's health state, as reported
  std::string message;  // its health message
  std::optional<sandbox::IsolationFacts> facts;
  std::string factsError;  // why facts are missing
};

// Reads the endpoint's JSON. Expected shape (keys matched case-insensitively, as Go does):
//   {"Services":[{"Name":"wgd","Pid":123,"State":"ok","Message":"",
//                 "Isolation":{"Uid":…,"Gid":…,"NoNewPrivs":true,"CapEff":0,"CapBnd":…,
//                              "SeccompMode":2,"NetnsInode":…,"NonLoopbackInterfaces":[]}}]}
// "Services" may also be an object keyed by name, or the top level a bare array; CapEff/CapBnd
// may be numbers or hex strings.
Result<std::vector<ServiceIsolation>> parseIsolationReport(const nlohmann::json& report);

// Replaces each service's reported facts with what /proc says about its pid.
void readFactsFromProc(std::vector<ServiceIsolation>& services);

// The table, and the "single uid" verdict when every service runs under the same uid.
// ownNetns: tnet's own network namespace inode (0 if unknown), to say "private" or "host".
std::string formatIsolation(const std::vector<ServiceIsolation>& services, uint64_t ownNetns, bool fromProc);

}  // namespace tnet::cli
