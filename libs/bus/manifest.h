// Typed queries over schemas/bus_manifest.capnp, the one declaration of the bus graph.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schemas/bus_manifest.capnp.h"

namespace tnet::bus::manifest {

// The identity of uid 0, and of the suite's own uid when the suite runs as one non-root user.
// It may call and subscribe to everything; it publishes nothing.
inline constexpr std::string_view OPERATOR = "operator";

schema::Manifest::Reader get();

// The six services, in manifest order.
std::vector<std::string> serviceNames();
std::optional<schema::ServiceDecl::Reader> service(std::string_view name);
bool isService(std::string_view name);

// "tailnetd-<svc>" from the manifest; empty for unknown names.
std::string userName(std::string_view service);
std::string groupName();

// Whether `service` declares `method` (its own serves or everyServiceServes).
bool serves(std::string_view service, std::string_view method);
// Whether `caller` ("operator" or a service name) may call `method` on `service`. Undeclared
// methods are never allowed, not even to the operator.
bool allows(std::string_view service, std::string_view method, std::string_view caller);

// Topics: full names "<svc>.<subject>"; "<svc>.hello" and "<svc>.violation" are implied.
bool publishes(std::string_view service, std::string_view topic);
bool retained(std::string_view service, std::string_view topic);
bool subscribes(std::string_view service, std::string_view topic);
// The publisher part of a topic ("wgd" for "wgd.peers"); empty if there is no dot.
std::string_view topicPublisher(std::string_view topic);

// Data pipes: the services that send into `service`'s pipes, and those it sends into.
std::vector<std::string> pipeSendersTo(std::string_view service);
std::vector<std::string> pipeReceiversFrom(std::string_view service);

// Whether environment variable `name` may be passed to `service` (exact names and "PREFIX*").
bool environmentAllowed(std::string_view service, std::string_view name);

}  // namespace tnet::bus::manifest
