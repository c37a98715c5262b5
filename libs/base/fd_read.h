// Reading a whole file descriptor with a size cap: the one read loop for config and state files
// (ipnd's --config-fd and prefs file, the supervisor's config and auth-key files).
#pragma once

#include <cstddef>
#include <string>

#include "libs/base/result.h"

namespace tnet {

// Reads `fd` to end of file, retrying EINTR; the caller keeps ownership and closes it.
// Errors: FAILED with the strerror text when read fails; INVALID when more than `limit` bytes
// arrive (what was read is wiped first, as it may be a secret). Callers add their own context.
Result<std::string> readFdToEnd(int fd, size_t limit);

}  // namespace tnet
