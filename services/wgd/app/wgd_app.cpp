#include "services/wgd/app/wgd_app.h"

#include "libs/service/follow.h"

namespace tnet::wgd {

namespace {

struct WgdApp {};

}  // namespace

Result<std::shared_ptr<void>> startApp(service::Service& service) {
  auto app = std::make_shared<WgdApp>();
  // ipnd pushes configuration by request; its state tells us when it restarted.
  service::followLogged(service, {"ipnd.state"});
  service.setHealth(service::HealthState::OK, "waiting for configuration");
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::wgd
