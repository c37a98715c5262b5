// `tailnetd --config FILE`: the file is read and validated completely by the supervisor (as
// root, before anything changes), `file:` auth keys are resolved, and the result is handed to
// ipnd on an inherited pipe (`--config-fd`), read to EOF once per ipnd start.
#pragma once

#include <string>

#include "libs/base/result.h"

namespace tnet::supervisor {

// The validated ConfigVAlpha document ipnd receives (AuthKey resolved). Never logged.
Result<std::string> loadConfigForIpnd(const std::string& path);

// A pipe whose read end carries `document` to EOF; the write end is already closed. The caller
// passes the returned read end to the child and closes it afterwards.
Result<int> makeConfigPipe(const std::string& document);

}  // namespace tnet::supervisor
