// wgd's bus wiring. The protocol (services/wgd/core) is plugged in here as it lands.
#pragma once

#include <memory>

#include "libs/base/result.h"
#include "libs/service/service.h"

namespace tnet::wgd {

Result<std::shared_ptr<void>> startApp(service::Service& service);

}  // namespace tnet::wgd
