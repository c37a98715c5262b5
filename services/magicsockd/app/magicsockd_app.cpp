#include "services/magicsockd/app/magicsockd_app.h"

#include "libs/log/log.h"
#include "libs/service/follow.h"

namespace tnet::magicsockd {

namespace {

struct MagicsockdApp {
  Flags flags;
};

}  // namespace

Result<std::shared_ptr<void>> startApp(service::Service& service, const Flags& flags) {
  auto app = std::make_shared<MagicsockdApp>(MagicsockdApp{flags});
  service::followLogged(service, {"ipnd.state", "wgd.nodekey"});
  service.log().info("magicsockd.flags port={}", flags.port);
  service.setHealth(service::HealthState::OK, "waiting for configuration");
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::magicsockd
