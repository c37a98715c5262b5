#include "libs/bus/manifest.h"

namespace tnet::bus::manifest {

namespace {

std::string_view text(capnp::Text::Reader t) {
  return std::string_view(t.cStr(), t.size());
}

bool contains(capnp::List<capnp::Text>::Reader list, std::string_view value) {
  for (auto item : list) {
    if (text(item) == value) return true;
  }
  return false;
}

// Topics every service publishes without listing them.
bool impliedTopic(std::string_view service, std::string_view topic) {
  if (topicPublisher(topic) != service) return false;
  std::string_view subject = topic.substr(service.size() + 1);
  return subject == "hello" || subject == "violation";
}

}  // namespace

schema::Manifest::Reader get() {
  return schema::MANIFEST.get();
}

std::vector<std::string> serviceNames() {
  std::vector<std::string> names;
  for (auto s : get().getServices()) names.emplace_back(text(s.getName()));
  return names;
}

std::optional<schema::ServiceDecl::Reader> service(std::string_view name) {
  for (auto s : get().getServices()) {
    if (text(s.getName()) == name) return s;
  }
  return std::nullopt;
}

bool isService(std::string_view name) {
  return service(name).has_value();
}

std::string userName(std::string_view name) {
  auto s = service(name);
  return s ? std::string(text(s->getUser())) : std::string();
}

std::string groupName() {
  return std::string(text(get().getGroup()));
}

namespace {

std::optional<schema::Method::Reader> findMethod(std::string_view svc, std::string_view method) {
  auto s = service(svc);
  if (!s) return std::nullopt;
  for (auto m : s->getServes()) {
    if (text(m.getName()) == method) return m;
  }
  for (auto m : get().getEveryServiceServes()) {
    if (text(m.getName()) == method) return m;
  }
  return std::nullopt;
}

}  // namespace

bool serves(std::string_view svc, std::string_view method) {
  return findMethod(svc, method).has_value();
}

bool allows(std::string_view svc, std::string_view method, std::string_view caller) {
  auto m = findMethod(svc, method);
  if (!m) return false;
  if (caller == OPERATOR) return true;
  if (caller.empty()) return false;
  return contains(m->getCallers(), caller);
}

std::string_view topicPublisher(std::string_view topic) {
  auto dot = topic.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == topic.size()) return {};
  return topic.substr(0, dot);
}

bool publishes(std::string_view svc, std::string_view topic) {
  auto s = service(svc);
  if (!s) return false;
  return impliedTopic(svc, topic) || contains(s->getPublishes(), topic);
}

bool retained(std::string_view svc, std::string_view topic) {
  auto s = service(svc);
  return s && contains(s->getRetained(), topic);
}

bool subscribes(std::string_view svc, std::string_view topic) {
  auto s = service(svc);
  if (!s) return false;
  if (contains(s->getSubscribes(), topic)) return true;
  // Subscribing to any topic of a publisher implies its hello (epoch tracking).
  std::string_view pub = topicPublisher(topic);
  if (!pub.empty() && topic.substr(pub.size() + 1) == "hello") {
    for (auto t : s->getSubscribes()) {
      if (topicPublisher(text(t)) == pub) return true;
    }
  }
  return false;
}

std::vector<std::string> pipeSendersTo(std::string_view svc) {
  std::vector<std::string> out;
  for (auto s : get().getServices()) {
    if (contains(s.getPipesTo(), svc)) out.emplace_back(text(s.getName()));
  }
  return out;
}

std::vector<std::string> pipeReceiversFrom(std::string_view svc) {
  std::vector<std::string> out;
  if (auto s = service(svc)) {
    for (auto t : s->getPipesTo()) out.emplace_back(text(t));
  }
  return out;
}

bool environmentAllowed(std::string_view svc, std::string_view name) {
  auto s = service(svc);
  if (!s || name.empty()) return false;
  auto match = [&](capnp::List<capnp::Text>::Reader list) {
    for (auto entry : list) {
      std::string_view e = text(entry);
      if (!e.empty() && e.back() == '*') {
        if (name.substr(0, e.size() - 1) == e.substr(0, e.size() - 1)) return true;
      } else if (e == name) {
        return true;
      }
    }
    return false;
  };
  return match(s->getEnvironment()) || match(get().getEveryServiceEnvironment());
}

}  // namespace tnet::bus::manifest
