#include "services/netstackd/app/netstackd_app.h"

#include "libs/log/log.h"
#include "libs/service/follow.h"

namespace tnet::netstackd {

namespace {

struct NetstackdApp {
  Flags flags;
};

}  // namespace

Result<std::shared_ptr<void>> startApp(service::Service& service, const Flags& flags) {
  auto app = std::make_shared<NetstackdApp>(NetstackdApp{flags});
  service::followLogged(service, {"ipnd.state"});
  service.log().info("netstackd.flags socks5={} http_proxy={}", log::quote(flags.socks5Server),
                     log::quote(flags.httpProxyListen));
  service.setHealth(service::HealthState::OK, "waiting for configuration");
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::netstackd
