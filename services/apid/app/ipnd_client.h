// How the HTTP side reaches ipnd, without naming the bus or Cap'n Proto: the server stays one
// Beast translation unit, and tests could drive it with any implementation.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "libs/base/result.h"
#include "services/apid/core/request.h"

namespace tnet::apid {

// schemas/ipnd.capnp LocalApiReply.
struct IpndReply {
  uint16_t status = 0;
  std::string contentType;
  std::string body;
  uint64_t notifySeq = 0;
};

class IpndClient {
 public:
  virtual ~IpndClient() = default;
  // `done` runs exactly once on the loop thread: ipnd's reply, or an error (timeout, ipnd
  // absent, malformed reply) that the server turns into 503.
  virtual void localApi(const ForwardRequest& request, std::chrono::milliseconds deadline,
                        std::function<void(Result<IpndReply>)> done) = 0;
};

}  // namespace tnet::apid
