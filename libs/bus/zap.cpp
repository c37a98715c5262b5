#include "libs/bus/zap.h"

#include <charconv>
#include <vector>

#include "libs/bus/bus.h"
#include "libs/bus/manifest.h"
#include "libs/log/log.h"

namespace tnet::bus {

namespace {

bool parseU32(std::string_view s, uint32_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::optional<PeerCred> parsePeerAddress(std::string_view address) {
  // The host part may be empty or "localhost"; the last three fields are the credentials.
  PeerCred cred;
  auto c3 = address.rfind(':');
  if (c3 == std::string_view::npos) return std::nullopt;
  auto c2 = address.rfind(':', c3 - 1);
  if (c3 == 0 || c2 == std::string_view::npos) return std::nullopt;
  auto c1 = address.rfind(':', c2 - 1);
  if (c2 == 0 || c1 == std::string_view::npos) return std::nullopt;
  if (!parseU32(address.substr(c1 + 1, c2 - c1 - 1), cred.uid) ||
      !parseU32(address.substr(c2 + 1, c3 - c2 - 1), cred.gid) ||
      !parseU32(address.substr(c3 + 1), cred.pid)) {
    return std::nullopt;
  }
  return cred;
}

std::string zapDecide(std::string_view domain, std::string_view address) {
  auto cred = parsePeerAddress(address);
  if (!cred) return {};  // not an ipc peer with credentials: never admitted
  std::string identity = identityForUid(cred->uid);
  if (identity.empty()) return {};
  if (domain == ZAP_DOMAIN_BUS) return identity;
  if (domain.substr(0, 5) == "pipe.") {
    std::string_view from = domain.substr(5);
    if (identity == manifest::OPERATOR || identity == from) return identity;
    return {};
  }
  return {};
}

ZapHandler::ZapHandler(Loop& loop, zmq::context_t& context) : socket_(context, zmq::socket_type::rep) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
  watch_ = std::make_unique<ZmqWatch>(loop, socket_, [this] { onReadable(); });
}

ZapHandler::~ZapHandler() = default;

void ZapHandler::onReadable() {
  std::vector<zmq::message_t> frames;
  for (;;) {
    zmq::message_t m;
    auto got = socket_.recv(m, zmq::recv_flags::dontwait);
    if (!got) {
      if (frames.empty()) return;  // nothing pending
      break;                       // cannot happen for one REQ message; answer what we have
    }
    bool more = m.more();
    frames.push_back(std::move(m));
    if (!more) break;
  }
  // version, request id, domain, address, routing id, mechanism, credentials...
  auto frameText = [&](size_t i) { return i < frames.size() ? frames[i].to_string() : std::string(); };
  std::string version = frameText(0);
  std::string requestId = frameText(1);
  std::string identity;
  if (version == "1.0" && frames.size() >= 6) {
    identity = zapDecide(frameText(2), frameText(3));
  }
  if (identity.empty()) {
    ++refused_;
    if (refusedLog_.allow()) {
      log::logger().warn("bus.zap.refused domain={} peer={} mechanism={} suppressed={}",
                         log::quote(frameText(2)), log::quote(frameText(3)), log::quote(frameText(5)),
                         refusedLog_.takeSuppressed());
    }
  }
  socket_.send(zmq::buffer(std::string_view("1.0")), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(requestId), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(std::string_view(identity.empty() ? "400" : "200")), zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(std::string_view(identity.empty() ? "not a tailnetd identity" : "OK")),
               zmq::send_flags::sndmore);
  socket_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
  socket_.send(zmq::message_t(), zmq::send_flags::none);
}

}  // namespace tnet::bus
