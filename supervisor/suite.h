// Everything between the parsed command line and the supervision loop: paths, directories,
// users, the lock, the sockets, the service binaries and argv, in an order where any failure
// happens before a single service starts.
#pragma once

#include "supervisor/options.h"

namespace tnet::supervisor {

// Runs the whole suite; returns the process exit code. Setup failures print one line.
int runSuite(const Options& opts);

}  // namespace tnet::supervisor
