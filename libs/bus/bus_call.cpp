// Calling other services: one DEALER per target, a deadline timer per call, and a socket
// monitor that recreates the DEALER (with backoff) after a failed handshake — a DEALER refused
// by ZAP otherwise stays silently disconnected.
#include <zmq.h>

#include <algorithm>
#include <cstring>

#include "libs/bus/bus_impl.h"
#include "libs/bus/endpoints.h"
#include "libs/bus/manifest.h"

namespace tnet::bus {

namespace {

constexpr auto BACKOFF_MIN = std::chrono::milliseconds(100);
constexpr auto BACKOFF_MAX = std::chrono::seconds(5);

}  // namespace

Bus::Impl::Client& Bus::Impl::client(std::string_view service) {
  auto it = clients.find(service);
  if (it != clients.end()) return *it->second;
  auto c = std::make_unique<Client>(context);
  c->service = std::string(service);
  c->dealer.set(zmq::sockopt::linger, 0);
  c->dealer.set(zmq::sockopt::sndhwm, 1000);
  setReconnectBackoff(c->dealer);
  std::string monitorAddr = "inproc://tnet-monitor-" + std::to_string(nextMonitorId++);
  int rc = zmq_socket_monitor(c->dealer.handle(), monitorAddr.c_str(),
                              ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                  ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  if (rc == 0) {
    c->monitor.connect(monitorAddr);
    Client* raw = c.get();
    c->monitorWatch = std::make_unique<ZmqWatch>(loop, c->monitor, [this, raw] { onMonitorReadable(*raw); });
  }
  // Connecting never fails for a missing file: libzmq retries until the service binds.
  c->dealer.connect("ipc://" + requestEndpointPath(options.runtimeDir, service));
  Client* raw = c.get();
  c->dealerWatch = std::make_unique<ZmqWatch>(loop, c->dealer, [this, raw] { onClientReadable(*raw); });
  return *clients.emplace(std::string(service), std::move(c)).first->second;
}

void Bus::call(std::string_view service, std::string_view method, const Filler& params,
               std::chrono::milliseconds timeout, ReplyCallback done) {
  impl_->callImpl(service, method, params, timeout, std::move(done));
}

void Bus::Impl::callImpl(std::string_view service, std::string_view method, const Filler& params,
                         std::chrono::milliseconds timeout, ReplyCallback done) {
  Impl& d = *this;
  std::string svc(service);
  auto failLater = [&](Error e) { d.loop.post([done = std::move(done), e = std::move(e)] { done(e); }); };
  if (!manifest::isService(service)) {
    return failLater(Error::invalid("no service '" + svc + "' in bus_manifest.capnp"));
  }
  if (!manifest::serves(service, method)) {
    return failLater(Error::unimplemented(svc + " does not serve '" + std::string(method) + "'"));
  }
  if (auto path = checkSocketPath(requestEndpointPath(d.options.runtimeDir, service)); !path) {
    return failLater(path.error());
  }
  uint64_t id = d.nextRequestId++;
  capnp::MallocMessageBuilder mb;
  auto env = mb.initRoot<schema::RequestEnvelope>();
  env.setId(id);
  env.setMethod(std::string(method));
  env.setDeadlineMs(static_cast<uint32_t>(std::clamp<int64_t>(timeout.count(), 0, UINT32_MAX)));
  if (!d.claimedCaller.empty()) env.setClaimedCaller(d.claimedCaller);
  params(env.initParams());
  auto bytes = toBytes(mb);

  if (auto b = d.backoffs.find(service); b != d.backoffs.end() && b->second.waiting) {
    return failLater(Error::disconnected(svc + " refused our handshake; reconnecting in " +
                                         std::to_string(b->second.delay.count()) + " ms"));
  }
  Impl::Client& c = d.client(service);
  bool sent = false;
  try {
    sent = c.dealer.send(zmq::buffer(bytes), zmq::send_flags::dontwait).has_value();
  } catch (const zmq::error_t&) {
  }
  c.dealerWatch->kick();
  if (!sent) return failLater(Error::overloaded("request queue to " + svc + " is full"));

  Impl::PendingCall call;
  call.service = svc;
  call.done = std::move(done);
  Impl* raw = this;
  call.timer = d.loop.after(timeout, [raw, id, svc, m = std::string(method), timeout] {
    ++raw->stats.callsTimedOut;
    raw->completeCall(id, Error::disconnected("timeout: " + svc + " did not answer " + m + " within " +
                                              std::to_string(timeout.count()) + " ms"));
  });
  d.pending.emplace(id, std::move(call));
}

void Bus::Impl::completeCall(uint64_t id, Result<Reply> result) {
  auto it = pending.find(id);
  if (it == pending.end()) return;  // late reply after the deadline, or unknown id
  ReplyCallback done = std::move(it->second.done);
  pending.erase(it);  // cancels the timer
  done(std::move(result));
}

void Bus::Impl::onClientReadable(Client& c) {
  for (;;) {
    zmq::message_t body;
    if (!c.dealer.recv(body, zmq::recv_flags::dontwait)) return;
    if (body.more()) {  // not ours: drain the rest and ignore
      while (body.more() && c.dealer.recv(body, zmq::recv_flags::dontwait)) {
      }
      continue;
    }
    auto msg = InMessage::fromBytes(std::span(static_cast<const uint8_t*>(body.data()), body.size()));
    if (!msg) continue;
    std::shared_ptr<InMessage> message = std::move(*msg);
    uint64_t id = 0;
    std::optional<Error> remoteError;
    auto parsed = guardRead([&] {
      auto env = message->root<schema::ReplyEnvelope>();
      id = env.getId();
      if (env.isError()) {
        auto e = env.getError();
        remoteError = Error{fromSchemaKind(e.getKind()), std::string(textView(e.getMessage()))};
      }
    });
    if (!parsed) continue;
    if (remoteError) {
      completeCall(id, *remoteError);
    } else {
      completeCall(id, Reply(message));
    }
  }
}

void Bus::Impl::onMonitorReadable(Client& c) {
  bool failed = false;
  for (;;) {
    zmq::message_t event;
    if (!c.monitor.recv(event, zmq::recv_flags::dontwait)) break;
    zmq::message_t address;
    if (event.more()) (void)c.monitor.recv(address, zmq::recv_flags::dontwait);
    if (event.size() < 6) continue;
    uint16_t kind = 0;
    std::memcpy(&kind, event.data(), sizeof kind);
    if (kind == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL || kind == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
        kind == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      failed = true;
    } else if (kind == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      backoffs.erase(c.service);
    }
  }
  if (!failed) return;
  // Recreate outside this callback: it runs inside the monitor's own watch.
  std::string service = c.service;
  auto weak = std::weak_ptr<Bus::Impl*>(self);
  loop.post([weak, service] {
    if (auto s = weak.lock(); s && *s) (*s)->recreateClient(service);
  });
}

void Bus::Impl::recreateClient(std::string service) {
  auto it = clients.find(service);
  if (it == clients.end()) return;
  ++stats.reconnects;
  log::logger().warn("bus.handshake.failed service={} action=reconnect", service);
  // Calls in flight to that service will not be answered on this connection.
  std::vector<uint64_t> ids;
  for (auto& [id, call] : pending) {
    if (call.service == service) ids.push_back(id);
  }
  clients.erase(it);
  for (uint64_t id : ids) {
    completeCall(id, Error::disconnected("handshake with " + service + " failed (not admitted)"));
  }
  // Reconnect after a growing delay so a refused peer is not hammered; calls made meanwhile fail
  // fast with disconnected.
  auto& b = backoffs[service];
  b.delay =
      b.delay.count() == 0 ? BACKOFF_MIN : std::min<std::chrono::milliseconds>(b.delay * 2, BACKOFF_MAX);
  b.waiting = true;
  b.timer = loop.after(b.delay, [this, service] {
    auto& bo = backoffs[service];
    bo.waiting = false;
    client(service);
  });
}

}  // namespace tnet::bus
