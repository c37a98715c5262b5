// controld's bus wiring. The control protocol is plugged in here as it lands.
#pragma once

#include <memory>

#include "libs/base/result.h"
#include "libs/service/service.h"

namespace tnet::controld {

Result<std::shared_ptr<void>> startApp(service::Service& service);

}  // namespace tnet::controld
