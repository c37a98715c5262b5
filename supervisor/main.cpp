// tailnetd: the supervisor. Parses flags, prepares files and sockets, starts the six services
// with the least rights each needs and keeps them running (docs/supervisor.md).
#include <cstdio>
#include <exception>

#include "supervisor/options.h"
#include "supervisor/suite.h"

int main(int argc, char** argv) {
  auto parsed = tnet::supervisor::parseOptions(argc, argv);
  if (!parsed.options) return parsed.exitCode;
  try {
    return tnet::supervisor::runSuite(*parsed.options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tailnetd: %s\n", e.what());
    return 1;
  }
}
