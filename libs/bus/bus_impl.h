// Internal: the state behind tnet::bus::Bus, shared by bus.cpp (endpoints, publishing, serving),
// bus_call.cpp (DEALER clients) and bus_subscribe.cpp (SUB sockets and snapshots).
#pragma once

#include <capnp/message.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "libs/bus/bus.h"
#include "libs/bus/message.h"
#include "libs/bus/zap.h"
#include "libs/bus/zmq_watch.h"
#include "libs/log/log.h"
#include "schemas/common.capnp.h"

namespace tnet::bus {

// Connecting sockets (SUB, DEALER) retry a missing or restarted peer after 10 ms, doubling to
// 1 s: services start in order within tens of milliseconds, and ZeroMQ's default 100 ms left
// every first contact (a snapshot, `tnet status`'s health lines) waiting that long.
inline void setReconnectBackoff(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::reconnect_ivl, 10);
  socket.set(zmq::sockopt::reconnect_ivl_max, 1000);
}

struct Request::State {
  std::weak_ptr<Bus::Impl*> server;  // the Bus that received it (gone: replies are dropped)
  std::string routingId;
  std::shared_ptr<InMessage> message;
  std::string method;
  Caller caller;
  uint64_t id = 0;
  Loop::Clock::time_point deadline;
  bool replied = false;
  ~State();
};

struct Bus::Impl {
  Impl(Loop& loop, BusOptions options);
  ~Impl();

  Loop& loop;
  BusOptions options;
  uint64_t epoch = 0;
  BusStats stats;
  bool isOperator = false;
  // Weak handle for Requests and posted callbacks that may outlive the Bus.
  std::shared_ptr<Bus::Impl*> self;

  zmq::context_t context;
  std::unique_ptr<ZapHandler> zap;  // first socket bound, last closed

  // ---- publishing -------------------------------------------------------------------------
  std::optional<zmq::socket_t> pub;  // XPUB in manual mode: we admit each subscription
  std::unique_ptr<ZmqWatch> pubWatch;
  void onPubReadable();
  std::string pubPath;
  std::map<std::string, uint64_t, std::less<>> topicSeq;
  std::map<std::string, std::unique_ptr<capnp::MallocMessageBuilder>, std::less<>> retainedValues;
  Handle helloTimer;
  void publishNow(std::string_view topic, const Filler& fill);
  void publishHello();

  // ---- serving ----------------------------------------------------------------------------
  std::optional<zmq::socket_t> router;
  std::unique_ptr<ZmqWatch> routerWatch;
  std::string rpcPath;
  std::map<std::string, RequestHandler, std::less<>> handlers;
  log::RateLimiter violationLog{1.0, 10.0};
  void onRouterReadable();
  void dispatch(std::string routingId, zmq::message_t& body);
  void sendReply(const std::string& routingId, uint64_t id, const Filler* ok, const Error* err);
  void replyError(const std::string& routingId, uint64_t id, Error err);
  void serveSnapshot(Request req);
  void reportViolation(const Caller& caller, std::string_view method, std::string_view claimed);

  // ---- calling ----------------------------------------------------------------------------
  struct Client {
    explicit Client(zmq::context_t& ctx)
        : dealer(ctx, zmq::socket_type::dealer), monitor(ctx, zmq::socket_type::pair) {}
    std::string service;
    zmq::socket_t dealer;
    zmq::socket_t monitor;
    std::unique_ptr<ZmqWatch> dealerWatch;
    std::unique_ptr<ZmqWatch> monitorWatch;
  };
  struct PendingCall {
    std::string service;
    ReplyCallback done;
    Handle timer;
  };
  std::map<std::string, std::unique_ptr<Client>, std::less<>> clients;
  std::map<uint64_t, PendingCall> pending;
  uint64_t nextRequestId = 1;
  uint64_t nextMonitorId = 1;
  std::string claimedCaller;
  struct Backoff {
    std::chrono::milliseconds delay{0};
    bool waiting = false;
    Handle timer;
  };
  std::map<std::string, Backoff, std::less<>> backoffs;
  Client& client(std::string_view service);
  void callImpl(std::string_view service, std::string_view method, const Filler& params,
                std::chrono::milliseconds timeout, ReplyCallback done);
  void recreateClient(std::string service);
  void completeCall(uint64_t id, Result<Reply> result);
  void onClientReadable(Client& c);
  void onMonitorReadable(Client& c);

  // ---- subscribing ------------------------------------------------------------------------
  struct TopicState {
    std::vector<EventHandler> handlers;
    uint64_t lastSeq = 0;
  };
  struct Publisher {
    std::string service;
    zmq::socket_t sub;
    std::unique_ptr<ZmqWatch> watch;
    std::map<std::string, TopicState, std::less<>> topics;
    uint64_t epoch = 0;  // 0 = no snapshot applied yet
    bool snapshotInFlight = false;
    bool snapshotAgain = false;
    // The first hello of an epoch proves the subscription is live: events published between
    // the first snapshot and that moment (PUB's slow-joiner window) may be lost, so one more
    // snapshot is taken then.
    bool liveSnapshotTaken = false;
    std::vector<std::function<void(uint64_t)>> epochHandlers;
    Publisher(zmq::context_t& ctx) : sub(ctx, zmq::socket_type::sub) {}
  };
  std::map<std::string, std::unique_ptr<Publisher>, std::less<>> publishers;
  Publisher& publisher(std::string_view service);
  void onSubReadable(Publisher& p);
  void handleEvent(Publisher& p, std::string_view frameTopic, zmq::message_t& body);
  void requestSnapshot(Publisher& p);
  void applySnapshot(Publisher& p, const Reply& reply);
};

std::string_view textView(capnp::Text::Reader t);
schema::ErrorKind toSchemaKind(ErrorKind kind);
ErrorKind fromSchemaKind(schema::ErrorKind kind);

}  // namespace tnet::bus
