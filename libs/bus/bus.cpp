// The Bus: construction (ZAP first, then endpoints), publishing, and serving requests.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>

#include "libs/bus/bus_impl.h"
#include "libs/bus/endpoints.h"
#include "libs/bus/manifest.h"

namespace tnet::bus {

std::string_view textView(capnp::Text::Reader t) {
  return std::string_view(t.cStr(), t.size());
}

schema::ErrorKind toSchemaKind(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::FAILED:
      return schema::ErrorKind::FAILED;
    case ErrorKind::INVALID:
      return schema::ErrorKind::INVALID;
    case ErrorKind::DENIED:
      return schema::ErrorKind::DENIED;
    case ErrorKind::OVERLOADED:
      return schema::ErrorKind::OVERLOADED;
    case ErrorKind::DISCONNECTED:
      return schema::ErrorKind::DISCONNECTED;
    case ErrorKind::UNIMPLEMENTED:
      return schema::ErrorKind::UNIMPLEMENTED;
  }
  return schema::ErrorKind::FAILED;
}

ErrorKind fromSchemaKind(schema::ErrorKind kind) {
  switch (kind) {
    case schema::ErrorKind::FAILED:
      return ErrorKind::FAILED;
    case schema::ErrorKind::INVALID:
      return ErrorKind::INVALID;
    case schema::ErrorKind::DENIED:
      return ErrorKind::DENIED;
    case schema::ErrorKind::OVERLOADED:
      return ErrorKind::OVERLOADED;
    case schema::ErrorKind::DISCONNECTED:
      return ErrorKind::DISCONNECTED;
    case schema::ErrorKind::UNIMPLEMENTED:
      return ErrorKind::UNIMPLEMENTED;
  }
  return ErrorKind::FAILED;  // a newer peer's kind we do not know
}

// ---- Reply / Request ---------------------------------------------------------------------------

Reply::Reply(std::shared_ptr<InMessage> message) : message_(std::move(message)) {}

capnp::AnyPointer::Reader Reply::payload() const {
  return message_->root<schema::ReplyEnvelope>().getOk();
}

Request::Request(std::shared_ptr<State> state) : state_(std::move(state)) {}
const std::string& Request::method() const {
  return state_->method;
}
const Caller& Request::caller() const {
  return state_->caller;
}
capnp::AnyPointer::Reader Request::paramsAny() const {
  return state_->message->root<schema::RequestEnvelope>().getParams();
}
Loop::Clock::time_point Request::deadline() const {
  return state_->deadline;
}
bool Request::expired() const {
  return Loop::Clock::now() > state_->deadline;
}
bool Request::replied() const {
  return state_->replied;
}

void Request::reply(const Filler& fill) {
  assert(!state_->replied && "a request is answered once");
  state_->replied = true;
  auto server = state_->server.lock();
  if (!server || expired()) return;
  (*server)->sendReply(state_->routingId, state_->id, &fill, nullptr);
}

void Request::replyEmpty() {
  reply([](capnp::AnyPointer::Builder b) { b.initAs<schema::Empty>(); });
}

void Request::fail(Error error) {
  assert(!state_->replied && "a request is answered once");
  state_->replied = true;
  auto server = state_->server.lock();
  if (!server || expired()) return;
  (*server)->sendReply(state_->routingId, state_->id, nullptr, &error);
}

Request::State::~State() {
  if (replied) return;
  auto s = server.lock();
  if (!s || Loop::Clock::now() > deadline) return;
  Error err = Error::failed("no reply from handler of " + method);
  (*s)->sendReply(routingId, id, nullptr, &err);
}

// ---- construction ------------------------------------------------------------------------------

namespace {

uint64_t newEpoch() {
  // Wall-clock nanoseconds: differs on every start and usually grows, which keeps logs readable.
  struct timespec ts {};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Result<void> ensureServiceDir(const std::string& runtimeDir, const std::string& service) {
  std::string dir = runtimeDir + "/" + service;
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error::failed(dir + " is not a directory");
    return {};
  }
  // Normally the supervisor (or systemd's RuntimeDirectory=) made it with the right owner.
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::failed("mkdir " + dir + ": " + std::strerror(errno));
  }
  return {};
}

Result<void> bindEndpoint(zmq::socket_t& socket, const std::string& path) {
  TNET_TRY_VOID(prepareSocketPath(path));
  try {
    socket.bind("ipc://" + path);
  } catch (const zmq::error_t& e) {
    return Error::failed("bind " + path + ": " + e.what());
  }
  if (auto r = publishSocketPath(path); !r) {
    unlink(path.c_str());
    return r;
  }
  return {};
}

}  // namespace

Bus::Impl::Impl(Loop& l, BusOptions o)
    : loop(l), options(std::move(o)), epoch(newEpoch()), self(std::make_shared<Bus::Impl*>(this)) {}

Bus::Impl::~Impl() {
  *self = nullptr;
  self.reset();
  helloTimer.reset();
  // Pending calls never complete now; their callbacks belong to the owner being destroyed.
  pending.clear();
  for (auto& [name, p] : publishers) p->watch.reset();
  publishers.clear();
  clients.clear();
  routerWatch.reset();
  if (router) router->close();
  if (!rpcPath.empty()) unlink(rpcPath.c_str());
  pubWatch.reset();
  if (pub) pub->close();
  if (!pubPath.empty()) unlink(pubPath.c_str());
  zap.reset();
  context.shutdown();
  context.close();
}

Bus::Bus(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Bus::~Bus() = default;

Result<std::unique_ptr<Bus>> Bus::create(Loop& loop, BusOptions options) {
  bool isOperator = options.service == manifest::OPERATOR;
  if (!isOperator && !manifest::isService(options.service)) {
    return Error::invalid("'" + options.service + "' is not a service in bus_manifest.capnp");
  }
  if (options.runtimeDir.empty()) return Error::invalid("the runtime dir is not set");
  auto impl = std::make_unique<Impl>(loop, options);
  impl->isOperator = isOperator;
  try {
    // The ZAP handler comes first: any socket bound before it would admit everyone.
    impl->zap = std::make_unique<ZapHandler>(loop, impl->context);
  } catch (const zmq::error_t& e) {
    return Error::failed(std::string("binding the ZAP handler: ") + e.what());
  }
  if (!isOperator) {
    const std::string& svc = options.service;
    // pubPath/rpcPath are set only once bound: the destructor unlinks what we own, never the
    // endpoint of a running instance we failed to replace.
    std::string pubPath = eventEndpointPath(options.runtimeDir, svc);
    std::string rpcPath = requestEndpointPath(options.runtimeDir, svc);
    TNET_TRY_VOID(checkSocketPath(pubPath));
    TNET_TRY_VOID(checkSocketPath(rpcPath));
    TNET_TRY_VOID(ensureServiceDir(options.runtimeDir, svc));

    // XPUB with manual subscriptions: each subscription arrives with its connection's ZAP
    // identity and is applied only for topics the manifest lets that identity subscribe to.
    impl->pub.emplace(impl->context, zmq::socket_type::xpub);
    impl->pub->set(zmq::sockopt::linger, 0);
    impl->pub->set(zmq::sockopt::zap_domain, ZAP_DOMAIN_BUS);
    impl->pub->set(zmq::sockopt::sndhwm, 10000);
    impl->pub->set(zmq::sockopt::xpub_manual, 1);
    TNET_TRY_VOID(bindEndpoint(*impl->pub, pubPath));
    impl->pubPath = pubPath;

    impl->router.emplace(impl->context, zmq::socket_type::router);
    impl->router->set(zmq::sockopt::linger, 0);
    impl->router->set(zmq::sockopt::zap_domain, ZAP_DOMAIN_BUS);
    TNET_TRY_VOID(bindEndpoint(*impl->router, rpcPath));
    impl->rpcPath = rpcPath;
    Impl* raw = impl.get();
    impl->pubWatch = std::make_unique<ZmqWatch>(loop, *impl->pub, [raw] { raw->onPubReadable(); });
    impl->routerWatch = std::make_unique<ZmqWatch>(loop, *impl->router, [raw] { raw->onRouterReadable(); });
    impl->handlers.emplace("sys.snapshot", [raw](Request req) { raw->serveSnapshot(req); });

    raw->publishHello();
    impl->helloTimer = loop.every(options.helloPeriod, [raw] { raw->publishHello(); });
  }
  return std::unique_ptr<Bus>(new Bus(std::move(impl)));
}

const std::string& Bus::service() const {
  return impl_->options.service;
}
const std::string& Bus::runtimeDir() const {
  return impl_->options.runtimeDir;
}
uint64_t Bus::epoch() const {
  return impl_->epoch;
}
const BusStats& Bus::stats() const {
  return impl_->stats;
}
Loop& Bus::loop() {
  return impl_->loop;
}
void Bus::setClaimedCaller(std::string claimed) {
  impl_->claimedCaller = std::move(claimed);
}

// ---- publishing ----------------------------------------------------------------------------

void Bus::publish(std::string_view topic, const Filler& fill) {
  assert(!impl_->isOperator && "the operator publishes nothing");
  assert(manifest::publishes(impl_->options.service, topic) && "topic not declared in bus_manifest.capnp");
  impl_->publishNow(topic, fill);
}

void Bus::Impl::publishHello() {
  publishNow(options.service + ".hello",
             [this](capnp::AnyPointer::Builder b) { b.initAs<schema::Hello>().setEpoch(epoch); });
}

void Bus::Impl::publishNow(std::string_view topic, const Filler& fill) {
  auto it = topicSeq.find(topic);
  if (it == topicSeq.end()) it = topicSeq.emplace(std::string(topic), 0).first;
  uint64_t seq = ++it->second;
  auto builder = std::make_unique<capnp::MallocMessageBuilder>();
  auto env = builder->initRoot<schema::EventEnvelope>();
  env.setTopic(std::string(topic));
  env.setEpoch(epoch);
  env.setSeq(seq);
  fill(env.getPayload());
  auto bytes = toBytes(*builder);
  // PUB never blocks: a subscriber that is too slow loses messages, sees the gap, re-snapshots.
  pub->send(zmq::buffer(topic.data(), topic.size()), zmq::send_flags::sndmore);
  pub->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  pubWatch->kick();  // the send may have consumed the wake-up for pending subscriptions
  ++stats.eventsPublished;
  if (manifest::retained(options.service, topic)) {
    retainedValues.insert_or_assign(std::string(topic), std::move(builder));
  }
}

void Bus::Impl::onPubReadable() {
  for (;;) {
    zmq::message_t m;
    if (!pub->recv(m, zmq::recv_flags::dontwait)) return;
    if (m.size() == 0) continue;
    const auto* data = static_cast<const uint8_t*>(m.data());
    bool subscribe = data[0] == 1;
    std::string topic(reinterpret_cast<const char*>(data + 1), m.size() - 1);
    if (!subscribe) {
      pub->set(zmq::sockopt::unsubscribe, topic);  // applies to the pipe it came from
      continue;
    }
    Caller caller;
    try {
      const char* userId = m.gets("User-Id");
      const char* peer = m.gets("Peer-Address");
      caller.service = userId ? userId : "";
      if (auto cred = peer ? parsePeerAddress(peer) : std::nullopt) {
        caller.uid = cred->uid;
        caller.gid = cred->gid;
        caller.pid = cred->pid;
      }
    } catch (const zmq::error_t&) {
    }
    // Exact declared topics only: a shorter prefix (or "") would match more than was declared.
    bool allowed = !caller.service.empty() && manifest::publishes(options.service, topic) &&
                   (caller.service == manifest::OPERATOR || manifest::subscribes(caller.service, topic));
    if (allowed) {
      pub->set(zmq::sockopt::subscribe, topic);
    } else {
      reportViolation(caller, "subscribe " + topic, "");
    }
  }
}

// ---- serving -------------------------------------------------------------------------------

void Bus::serve(std::string_view method, RequestHandler handler) {
  assert(!impl_->isOperator && "the operator serves nothing");
  assert(manifest::serves(impl_->options.service, method) &&
         "method not declared for this service in bus_manifest.capnp");
  impl_->handlers.insert_or_assign(std::string(method), std::move(handler));
}

void Bus::Impl::onRouterReadable() {
  // Drain: each message is [routing id][body]; anything else is dropped.
  for (;;) {
    zmq::message_t idFrame;
    if (!router->recv(idFrame, zmq::recv_flags::dontwait)) return;
    std::vector<zmq::message_t> rest;
    bool more = idFrame.more();
    while (more) {
      zmq::message_t m;
      if (!router->recv(m, zmq::recv_flags::dontwait)) break;
      more = m.more();
      rest.push_back(std::move(m));
    }
    if (rest.size() != 1) {
      ++stats.requestsInvalid;
      continue;
    }
    dispatch(idFrame.to_string(), rest[0]);
  }
}

void Bus::Impl::sendReply(const std::string& routingId, uint64_t id, const Filler* ok, const Error* err) {
  if (!router) return;
  capnp::MallocMessageBuilder mb;
  auto env = mb.initRoot<schema::ReplyEnvelope>();
  env.setId(id);
  if (ok) {
    (*ok)(env.initOk());
  } else {
    auto e = env.initError();
    e.setKind(toSchemaKind(err->kind));
    e.setMessage(err->message);
  }
  auto bytes = toBytes(mb);
  try {
    router->send(zmq::buffer(routingId), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    router->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
    // the caller went away; nothing to do
  }
  routerWatch->kick();
}

void Bus::Impl::replyError(const std::string& routingId, uint64_t id, Error err) {
  sendReply(routingId, id, nullptr, &err);
}

void Bus::Impl::dispatch(std::string routingId, zmq::message_t& body) {
  // Identity: set by our ZAP handler for this connection; without it, nobody vouched for the peer.
  Caller caller;
  const char* userId = nullptr;
  const char* peer = nullptr;
  try {
    userId = body.gets("User-Id");
    peer = body.gets("Peer-Address");
  } catch (const zmq::error_t&) {
  }
  auto cred = peer ? parsePeerAddress(peer) : std::nullopt;
  if (userId == nullptr || *userId == '\0' || !cred) {
    ++stats.requestsDenied;
    replyError(routingId, 0, Error::denied("connection has no verified identity"));
    return;
  }
  caller.service = userId;
  caller.uid = cred->uid;
  caller.gid = cred->gid;
  caller.pid = cred->pid;

  auto msg = InMessage::fromBytes(std::span(static_cast<const uint8_t*>(body.data()), body.size()));
  if (!msg) {
    ++stats.requestsInvalid;
    replyError(routingId, 0, msg.error());
    return;
  }
  std::shared_ptr<InMessage> message = std::move(*msg);
  uint64_t id = 0;
  std::string method, claimed;
  uint32_t deadlineMs = 0;
  auto parsed = guardRead([&] {
    auto env = message->root<schema::RequestEnvelope>();
    id = env.getId();
    method = std::string(textView(env.getMethod()));
    claimed = std::string(textView(env.getClaimedCaller()));
    deadlineMs = env.getDeadlineMs();
  });
  if (!parsed) {
    ++stats.requestsInvalid;
    replyError(routingId, id, parsed.error());
    return;
  }
  if (!manifest::serves(options.service, method)) {
    replyError(routingId, id, Error::unimplemented(options.service + " does not serve '" + method + "'"));
    return;
  }
  if (!manifest::allows(options.service, method, caller.service)) {
    ++stats.requestsDenied;
    reportViolation(caller, method, claimed);
    replyError(routingId, id, Error::denied(caller.service + " may not call " + method));
    return;
  }
  auto h = handlers.find(method);
  if (h == handlers.end()) {
    replyError(routingId, id, Error::unimplemented(method + " is not implemented yet"));
    return;
  }
  auto state = std::make_shared<Request::State>();
  state->server = self;
  state->routingId = std::move(routingId);
  state->message = message;
  state->method = method;
  state->caller = caller;
  state->id = id;
  state->deadline = Loop::Clock::now() + std::chrono::milliseconds(deadlineMs);
  ++stats.requestsServed;
  Request req(state);
  // The handler reads the params lazily; a malformed message throws from inside it.
  RequestHandler& handler = h->second;
  auto ran = guardRead([&] { handler(req); });
  if (!ran && !state->replied) {
    ++stats.requestsInvalid;
    req.fail(ran.error());
  }
}

void Bus::Impl::reportViolation(const Caller& caller, std::string_view method, std::string_view claimed) {
  if (violationLog.allow()) {
    log::logger().warn("bus.violation caller={} uid={} pid={} method={} claimed={} suppressed={}",
                       log::quote(caller.service), caller.uid, caller.pid, log::quote(method),
                       log::quote(claimed), violationLog.takeSuppressed());
  }
  publishNow(options.service + ".violation", [&](capnp::AnyPointer::Builder b) {
    auto v = b.initAs<schema::Violation>();
    v.setCaller(caller.service);
    v.setUid(caller.uid);
    v.setPid(caller.pid);
    v.setMethod(std::string(method));
    v.setClaimedCaller(std::string(claimed));
  });
}

void Bus::Impl::serveSnapshot(Request req) {
  auto params = req.params<schema::SnapshotParams>();
  const std::string& caller = req.caller().service;
  std::vector<std::string> topics;
  for (auto t : params.getTopics()) {
    std::string topic(textView(t));
    if (!manifest::publishes(options.service, topic)) {
      return req.fail(Error::invalid(options.service + " does not publish " + topic));
    }
    if (caller != manifest::OPERATOR && !manifest::subscribes(caller, topic)) {
      reportViolation(req.caller(), "sys.snapshot " + topic, "");
      return req.fail(Error::denied(caller + " does not subscribe to " + topic));
    }
    topics.push_back(std::move(topic));
  }
  req.reply([&](capnp::AnyPointer::Builder b) {
    auto snap = b.initAs<schema::Snapshot>();
    snap.setEpoch(epoch);
    auto entries = snap.initEntries(static_cast<unsigned>(topics.size()));
    for (unsigned i = 0; i < topics.size(); ++i) {
      auto e = entries[i];
      e.setTopic(topics[i]);
      auto seq = topicSeq.find(topics[i]);
      e.setSeq(seq == topicSeq.end() ? 0 : seq->second);
      auto value = retainedValues.find(topics[i]);
      if (value != retainedValues.end()) {
        e.setHasValue(true);
        e.getPayload().set(value->second->getRoot<schema::EventEnvelope>().getPayload().asReader());
      }
    }
  });
}

}  // namespace tnet::bus
