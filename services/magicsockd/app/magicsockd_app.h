// magicsockd's entry point for service::run (the app itself is magicsock.h).
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
