// netstackd's bus wiring. lwIP, the filter and the proxies are plugged in here as they land.
#pragma once

#include <memory>
#include <string>

#include "libs/base/result.h"
#include "libs/service/service.h"

namespace tnet::netstackd {

struct Flags {
  std::string socks5Server;
  std::string httpProxyListen;
};

Result<std::shared_ptr<void>> startApp(service::Service& service, const Flags& flags);

}  // namespace tnet::netstackd
