// Subscribing: one SUB socket per publisher, per-topic sequence tracking, and snapshots
// (sys.snapshot) on first contact, after a gap and when the publisher's epoch changes.
#include <cassert>

#include "libs/bus/bus_impl.h"
#include "libs/bus/endpoints.h"
#include "libs/bus/manifest.h"

namespace tnet::bus {

namespace {

constexpr auto SNAPSHOT_TIMEOUT = std::chrono::seconds(2);

bool isHello(std::string_view topic, std::string_view publisher) {
  return topic.size() == publisher.size() + 6 && topic.substr(publisher.size()) == ".hello";
}

}  // namespace

Bus::Impl::Publisher& Bus::Impl::publisher(std::string_view service) {
  auto it = publishers.find(service);
  if (it != publishers.end()) return *it->second;
  auto p = std::make_unique<Publisher>(context);
  p->service = std::string(service);
  p->sub.set(zmq::sockopt::linger, 0);
  p->sub.set(zmq::sockopt::rcvhwm, 10000);
  setReconnectBackoff(p->sub);
  std::string hello = p->service + ".hello";
  p->sub.set(zmq::sockopt::subscribe, hello);
  p->sub.connect("ipc://" + eventEndpointPath(options.runtimeDir, service));
  Publisher* raw = p.get();
  p->watch = std::make_unique<ZmqWatch>(loop, p->sub, [this, raw] { onSubReadable(*raw); });
  return *publishers.emplace(std::string(service), std::move(p)).first->second;
}

void Bus::subscribe(std::string_view topic, EventHandler handler) {
  Impl& d = *impl_;
  std::string_view pub = manifest::topicPublisher(topic);
  assert(!pub.empty() && "topics are <publisher>.<subject>");
  assert((d.isOperator || manifest::subscribes(d.options.service, topic)) &&
         "subscription not declared in bus_manifest.capnp");
  auto& p = d.publisher(pub);
  auto [it, fresh] = p.topics.try_emplace(std::string(topic));
  it->second.handlers.push_back(std::move(handler));
  if (fresh && !isHello(topic, pub)) p.sub.set(zmq::sockopt::subscribe, topic);
  // Take a snapshot now (it queues until the publisher binds; retried on its hello otherwise).
  if (fresh) {
    if (p.snapshotInFlight) {
      p.snapshotAgain = true;
    } else {
      d.requestSnapshot(p);
    }
  }
}

void Bus::onPeerEpoch(std::string_view service, std::function<void(uint64_t)> fn) {
  impl_->publisher(service).epochHandlers.push_back(std::move(fn));
}

void Bus::Impl::onSubReadable(Publisher& p) {
  for (;;) {
    zmq::message_t topic;
    if (!p.sub.recv(topic, zmq::recv_flags::dontwait)) return;
    if (!topic.more()) continue;
    zmq::message_t body;
    if (!p.sub.recv(body, zmq::recv_flags::dontwait)) return;
    bool extra = body.more();
    while (extra) {  // malformed: more frames than we send; skip them
      zmq::message_t m;
      if (!p.sub.recv(m, zmq::recv_flags::dontwait)) break;
      extra = m.more();
    }
    handleEvent(p, std::string_view(static_cast<const char*>(topic.data()), topic.size()), body);
  }
}

void Bus::Impl::handleEvent(Publisher& p, std::string_view frameTopic, zmq::message_t& body) {
  ++stats.eventsReceived;
  auto msg = InMessage::fromBytes(std::span(static_cast<const uint8_t*>(body.data()), body.size()));
  if (!msg) {
    ++stats.eventsDropped;
    return;
  }
  std::shared_ptr<InMessage> message = std::move(*msg);
  auto ok = guardRead([&] {
    auto env = message->root<schema::EventEnvelope>();
    std::string_view topic = textView(env.getTopic());
    // Prefix subscriptions match longer topics too; the topic frame and envelope must agree.
    if (topic != frameTopic || manifest::topicPublisher(topic) != p.service) {
      ++stats.eventsDropped;
      return;
    }
    uint64_t epoch = env.getEpoch();
    if (p.epoch != epoch) {
      // First contact or a restarted publisher: state comes from a snapshot, not from the
      // middle of the stream.
      ++stats.eventsDropped;
      if (p.snapshotInFlight) {
        p.snapshotAgain = true;
      } else {
        requestSnapshot(p);
      }
      return;
    }
    if (isHello(topic, p.service) && !p.liveSnapshotTaken) {
      p.liveSnapshotTaken = true;
      if (p.snapshotInFlight) {
        p.snapshotAgain = true;
      } else {
        requestSnapshot(p);
      }
    }
    auto t = p.topics.find(topic);
    if (t == p.topics.end()) return;
    TopicState& ts = t->second;
    uint64_t seq = env.getSeq();
    if (seq <= ts.lastSeq) {
      ++stats.eventsDropped;
      return;
    }
    if (seq != ts.lastSeq + 1 && ts.lastSeq != 0 && !isHello(topic, p.service)) {
      // Lost events (slow subscriber, HWM): deliver this one, then let a snapshot bring the
      // other topics' retained state up to date.
      ++stats.gaps;
      if (p.snapshotInFlight) {
        p.snapshotAgain = true;
      } else {
        requestSnapshot(p);
      }
    }
    ts.lastSeq = seq;
    Event ev;
    ev.topic = topic;
    ev.epoch = epoch;
    ev.seq = seq;
    ev.payload = env.getPayload();
    // Copy: a handler may subscribe (and so grow the vector) while we iterate.
    auto handlers = ts.handlers;
    for (auto& h : handlers) h(ev);
  });
  if (!ok) {
    ++stats.eventsDropped;
    log::logger().debug("bus.event.malformed publisher={} err={}", p.service, ok.error().message);
  }
}

void Bus::Impl::requestSnapshot(Publisher& p) {
  p.snapshotInFlight = true;
  p.snapshotAgain = false;
  std::vector<std::string> topics;
  for (auto& [topic, ts] : p.topics) {
    if (!isHello(topic, p.service)) topics.push_back(topic);
  }
  std::string service = p.service;
  Impl* raw = this;
  auto weak = std::weak_ptr<Bus::Impl*>(self);
  auto done = [weak, raw, service](Result<Reply> r) {
    auto s = weak.lock();
    if (!s || !*s) return;
    auto it = raw->publishers.find(service);
    if (it == raw->publishers.end()) return;
    Publisher& pub = *it->second;
    pub.snapshotInFlight = false;
    if (r) {
      raw->applySnapshot(pub, *r);
    } else {
      log::logger().debug("bus.snapshot.failed publisher={} err={}", service, r.error().message);
    }
    if (pub.snapshotAgain) raw->requestSnapshot(pub);
  };
  callImpl(
      service, "sys.snapshot",
      [&](capnp::AnyPointer::Builder b) {
        auto params = b.initAs<schema::SnapshotParams>();
        auto list = params.initTopics(static_cast<unsigned>(topics.size()));
        for (unsigned i = 0; i < topics.size(); ++i) list.set(i, topics[i]);
      },
      SNAPSHOT_TIMEOUT, std::move(done));
}

void Bus::Impl::applySnapshot(Publisher& p, const Reply& reply) {
  bool newEpoch = false;
  uint64_t epoch = 0;
  auto ok = guardRead([&] {
    auto snap = reply.as<schema::Snapshot>();
    epoch = snap.getEpoch();
    newEpoch = epoch != p.epoch;
    if (newEpoch) {
      p.epoch = epoch;
      p.liveSnapshotTaken = false;
      for (auto& [topic, ts] : p.topics) ts.lastSeq = 0;
    }
    ++stats.snapshots;
    for (auto entry : snap.getEntries()) {
      std::string_view topic = textView(entry.getTopic());
      auto t = p.topics.find(topic);
      if (t == p.topics.end()) continue;
      TopicState& ts = t->second;
      uint64_t seq = entry.getSeq();
      if (!newEpoch && seq <= ts.lastSeq) continue;
      ts.lastSeq = seq;
      if (!entry.getHasValue()) continue;
      Event ev;
      ev.topic = topic;
      ev.epoch = epoch;
      ev.seq = seq;
      ev.fromSnapshot = true;
      ev.payload = entry.getPayload();
      auto handlers = ts.handlers;
      for (auto& h : handlers) h(ev);
    }
  });
  if (!ok) {
    log::logger().warn("bus.snapshot.malformed publisher={} err={}", p.service, ok.error().message);
    return;
  }
  if (newEpoch) {
    log::logger().debug("bus.peer.epoch publisher={} epoch={}", p.service, epoch);
    auto handlers = p.epochHandlers;
    for (auto& h : handlers) h(epoch);
  }
}

}  // namespace tnet::bus
