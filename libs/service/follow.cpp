#include "libs/service/follow.h"

#include <set>
#include <string>

#include "libs/bus/manifest.h"
#include "libs/log/log.h"

namespace tnet::service {

void followLogged(Service& service, std::initializer_list<std::string_view> topics) {
  std::set<std::string> publishers;
  for (auto topic : topics) {
    service.bus().subscribe(topic, [](const bus::Event& ev) {
      log::logger().debug("bus.event topic={} seq={} snapshot={}", ev.topic, ev.seq, ev.fromSnapshot);
    });
    publishers.emplace(bus::manifest::topicPublisher(topic));
  }
  for (const auto& pub : publishers) {
    service.bus().onPeerEpoch(pub, [pub](uint64_t epoch) {
      log::logger().info("bus.peer.resync publisher={} epoch={}", pub, epoch);
    });
  }
}

}  // namespace tnet::service
