// The bus node of one process: its PUB (<runtime>/<svc>/ev) and ROUTER (<runtime>/<svc>/rpc)
// endpoints, its subscriptions and the DEALERs it calls other services through, all on one Loop.
// docs/bus.md has the usage walk-through; schemas/common.capnp the wire format;
// schemas/bus_manifest.capnp who may do what.
//
// Identity: the caller of a request is the service the kernel uid of its connection maps to
// (tailnetd-<svc> -> <svc>; uid 0, and the suite's own uid when not root -> "operator"). The ZAP
// handler is bound before any endpoint and admits only those uids; the dispatcher rejects
// messages without a ZAP User-Id and applies the manifest's per-method ACL: a denied call gets
// Error{denied}, a rate-limited log line and a <svc>.violation event.
#pragma once

#include <capnp/any.h>
#include <capnp/message.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "libs/base/result.h"
#include "libs/bus/loop.h"

namespace tnet::bus {

class InMessage;

// Who sent a request, as the kernel says (never a field of the message).
struct Caller {
  std::string service;  // a service name or "operator"
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
};

// A received event. `payload` (and the strings) are valid only during the callback.
struct Event {
  std::string_view topic;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  bool fromSnapshot = false;  // a retained value delivered by sys.snapshot, not a live event
  capnp::AnyPointer::Reader payload;

  template <typename T>
  typename T::Reader as() const {
    return payload.getAs<T>();
  }
};
using EventHandler = std::function<void(const Event&)>;

// A successful reply. Cheap to copy (shares the received message).
class Reply {
 public:
  explicit Reply(std::shared_ptr<InMessage> message);
  capnp::AnyPointer::Reader payload() const;
  template <typename T>
  typename T::Reader as() const {
    return payload().getAs<T>();
  }

 private:
  std::shared_ptr<InMessage> message_;
};
using ReplyCallback = std::function<void(Result<Reply>)>;

// Fills a request's params or a reply's payload.
using Filler = std::function<void(capnp::AnyPointer::Builder)>;

// An incoming request. Copies share one state: reply exactly once, from any copy, now or later
// (keep a copy in a callback to answer asynchronously). If every copy is dropped without a reply,
// the caller gets Error{failed, "no reply"}. Replies after the deadline are dropped.
class Request {
 public:
  struct State;
  explicit Request(std::shared_ptr<State> state);

  const std::string& method() const;
  const Caller& caller() const;
  capnp::AnyPointer::Reader paramsAny() const;
  template <typename T>
  typename T::Reader params() const {
    return paramsAny().getAs<T>();
  }
  Loop::Clock::time_point deadline() const;
  bool expired() const;
  bool replied() const;

  void reply(const Filler& fill);
  template <typename T>
  void replyWith(typename T::Reader value) {
    reply([&](capnp::AnyPointer::Builder b) { b.setAs<T>(value); });
  }
  void replyEmpty();  // schema::Empty
  void fail(Error error);

 private:
  std::shared_ptr<State> state_;
};
// Exceptions from reading the params (a malformed message) are caught by the dispatcher and
// answered with Error{invalid}.
using RequestHandler = std::function<void(Request)>;

struct BusOptions {
  std::string runtimeDir;
  // A manifest service name, or "operator" for tools and tests: the operator binds no endpoints
  // and may subscribe to and call anything.
  std::string service;
  std::chrono::milliseconds helloPeriod{1000};
};

struct BusStats {
  uint64_t eventsPublished = 0;
  uint64_t eventsReceived = 0;
  uint64_t eventsDropped = 0;  // stale (seq <= known) or from an unknown epoch
  uint64_t gaps = 0;           // sequence gaps seen (each triggers a re-snapshot)
  uint64_t snapshots = 0;      // snapshot replies applied
  uint64_t requestsServed = 0;
  uint64_t requestsDenied = 0;
  uint64_t requestsInvalid = 0;
  uint64_t callsTimedOut = 0;
  uint64_t reconnects = 0;  // DEALERs recreated after a failed handshake
};

class Bus {
 public:
  // Starts the ZAP handler (first, and for the Bus's lifetime), then binds the PUB and ROUTER
  // endpoints of a service (not of the operator), publishes <svc>.hello and starts its timer.
  static Result<std::unique_ptr<Bus>> create(Loop& loop, BusOptions options);
  ~Bus();  // closes every socket and unlinks the endpoint files
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  const std::string& service() const;
  const std::string& runtimeDir() const;
  uint64_t epoch() const;
  const BusStats& stats() const;
  Loop& loop();

  // ---- events -------------------------------------------------------------------------------
  // Publishes `topic` ("<svc>.<subject>", declared in the manifest; a bug otherwise). A retained
  // topic's last value is kept and handed to sys.snapshot callers.
  void publish(std::string_view topic, const Filler& fill);
  template <typename T>
  void publishValue(std::string_view topic, typename T::Reader value) {
    publish(topic, [&](capnp::AnyPointer::Builder b) { b.setAs<T>(value); });
  }

  // Subscribes to `topic` of another service (declared in the manifest for this service; a bug
  // otherwise). Delivery: first the retained value from a snapshot (fromSnapshot = true), then
  // live events in order; events at or below the snapshot's seq are dropped; a gap or a new
  // publisher epoch triggers a re-snapshot. Handlers live as long as the Bus.
  void subscribe(std::string_view topic, EventHandler handler);

  // Called after a snapshot from a publisher we subscribe to is applied with an epoch not seen
  // before: on first contact and after every restart. Use it to push state the peer lost (e.g.
  // a config).
  void onPeerEpoch(std::string_view service, std::function<void(uint64_t epoch)> fn);

  // ---- requests -----------------------------------------------------------------------------
  // Serves `method` (declared for this service in the manifest; a bug otherwise). Declared
  // methods without a handler answer Error{unimplemented}.
  void serve(std::string_view method, RequestHandler handler);

  // Calls `method` on `service`; `done` runs exactly once on the loop: with the reply, the
  // remote error, or Error{disconnected, "timeout ..."} after `timeout` (never, if the Bus is
  // destroyed first). `done` may run before call() returns only through the loop (never inline).
  void call(std::string_view service, std::string_view method, const Filler& params,
            std::chrono::milliseconds timeout, ReplyCallback done);
  template <typename T>
  void callWith(std::string_view service, std::string_view method, typename T::Reader params,
                std::chrono::milliseconds timeout, ReplyCallback done) {
    call(
        service, method, [&](capnp::AnyPointer::Builder b) { b.setAs<T>(params); }, timeout, std::move(done));
  }

  // For tests: the next request carries this claimedCaller text (which must change nothing).
  void setClaimedCaller(std::string claimed);

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Bus(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Maps a kernel uid to a bus identity: tailnetd-<svc> -> "<svc>", uid 0 and (when this process
// is not root) our own uid -> "operator", anything else -> "" (rejected).
std::string identityForUid(uint32_t uid);

}  // namespace tnet::bus
