// Subscribes a service to topics it declares in the manifest with handlers that only log, and
// logs each publisher's (re)start. The skeleton services use it until their protocols exist;
// real handlers replace the logging ones topic by topic.
#pragma once

#include <initializer_list>
#include <string_view>

#include "libs/service/service.h"

namespace tnet::service {

void followLogged(Service& service, std::initializer_list<std::string_view> topics);

}  // namespace tnet::service
