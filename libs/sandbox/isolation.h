// What the kernel says about a process's confinement, read from /proc. Each service reports
// its own facts in its health event; `tnet debug isolation` reads them directly when it can.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "libs/base/result.h"

namespace tnet::sandbox {

struct IsolationFacts {
  pid_t pid = 0;
  uid_t uid = 0;          // effective uid (Uid: line, second field)
  gid_t gid = 0;
  bool noNewPrivs = false;
  uint64_t capEff = 0;    // CapEff bitmask
  uint64_t capBnd = 0;
  int seccompMode = 0;    // 0 off, 1 strict, 2 filter
  uint64_t netnsInode = 0;
  // Interfaces visible in the process's network namespace other than "lo".
  std::vector<std::string> nonLoopbackInterfaces;
};

// pid 0 means this process. Fails with a clear message when /proc cannot be read (e.g. another
// user's process under hidepid).
Result<IsolationFacts> readIsolationFacts(pid_t pid = 0);

// The network-namespace inode of pid (0 = self), from the /proc/<pid>/ns/net link.
Result<uint64_t> netnsInode(pid_t pid = 0);

}  // namespace tnet::sandbox
