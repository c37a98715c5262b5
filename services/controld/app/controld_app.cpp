#include "services/controld/app/controld_app.h"

#include "libs/service/follow.h"

namespace tnet::controld {

namespace {

struct ControldApp {};

}  // namespace

Result<std::shared_ptr<void>> startApp(service::Service& service) {
  auto app = std::make_shared<ControldApp>();
  service::followLogged(service, {"ipnd.state"});
  service.setHealth(service::HealthState::OK, "waiting for configuration");
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::controld
