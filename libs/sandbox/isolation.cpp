#include "libs/sandbox/isolation.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace tnet::sandbox {

static std::string procPath(pid_t pid, const char* leaf) {
  return pid == 0 ? std::string("/proc/self/") + leaf : "/proc/" + std::to_string(pid) + "/" + leaf;
}

Result<uint64_t> netnsInode(pid_t pid) {
  struct stat st {};
  std::string path = procPath(pid, "ns/net");
  if (stat(path.c_str(), &st) != 0) return Error::failed("cannot stat " + path);
  return static_cast<uint64_t>(st.st_ino);
}

Result<IsolationFacts> readIsolationFacts(pid_t pid) {
  IsolationFacts f;
  std::string statusPath = procPath(pid, "status");
  std::ifstream status(statusPath);
  if (!status) return Error::failed("cannot read " + statusPath);
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    if (key == "Pid:") {
      in >> f.pid;
    } else if (key == "Uid:") {
      uid_t real = 0;
      in >> real >> f.uid;
    } else if (key == "Gid:") {
      gid_t real = 0;
      in >> real >> f.gid;
    } else if (key == "NoNewPrivs:") {
      int v = 0;
      in >> v;
      f.noNewPrivs = v != 0;
    } else if (key == "CapEff:") {
      in >> std::hex >> f.capEff;
    } else if (key == "CapBnd:") {
      in >> std::hex >> f.capBnd;
    } else if (key == "Seccomp:") {
      in >> f.seccompMode;
    }
  }
  auto ino = netnsInode(pid);
  if (!ino) return ino.error();
  f.netnsInode = *ino;

  // /proc/<pid>/net/dev lists the interfaces of the process's network namespace.
  std::ifstream dev(procPath(pid, "net/dev"));
  int n = 0;
  while (std::getline(dev, line)) {
    if (++n <= 2) continue;  // two header lines
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    if (name != "lo") f.nonLoopbackInterfaces.push_back(name);
  }
  return f;
}

}  // namespace tnet::sandbox
