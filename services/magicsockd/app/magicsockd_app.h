// magicsockd's bus wiring. UDP, DERP and disco are plugged in here as they land.
#pragma once

#include <cstdint>
#include <memory>

#include "libs/base/result.h"
#include "libs/service/service.h"

namespace tnet::magicsockd {

struct Flags {
  uint16_t port = 0;
};

Result<std::shared_ptr<void>> startApp(service::Service& service, const Flags& flags);

}  // namespace tnet::magicsockd
