#include "libs/bus/bus.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <zmq.hpp>

#include "libs/bus/bus_test_util.h"
#include "libs/bus/endpoints.h"
#include "libs/bus/message.h"
#include "libs/log/log.h"
#include "schemas/common.capnp.h"

namespace tnet::bus {
namespace {

using namespace std::chrono_literals;
using testing::runUntil;
using testing::TempRuntime;

std::unique_ptr<Bus> makeBus(Loop& loop, const std::string& rt, const std::string& svc,
                             std::chrono::milliseconds hello = 1000ms) {
  auto b = Bus::create(loop, BusOptions{rt, svc, hello});
  EXPECT_TRUE(b) << (b ? "" : b.error().message);
  return b ? std::move(*b) : nullptr;
}

TEST(Bus, RejectsUnknownServiceAndLongPaths) {
  Loop loop;
  TempRuntime rt;
  auto b = Bus::create(loop, BusOptions{rt.path(), "nosuchd"});
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().kind, ErrorKind::INVALID);
  auto longDir = rt.path() + "/" + std::string(100, 'x');
  auto c = Bus::create(loop, BusOptions{longDir, "wgd"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("unix sockets allow at most 107"), std::string::npos) << c.error().message;
}

TEST(Bus, BindsEndpointsWithMode0660AndUnlinksThemOnClose) {
  Loop loop;
  TempRuntime rt;
  {
    auto wgd = makeBus(loop, rt.path(), "wgd");
    ASSERT_TRUE(wgd);
    for (auto path : {eventEndpointPath(rt.path(), "wgd"), requestEndpointPath(rt.path(), "wgd")}) {
      struct stat st {};
      ASSERT_EQ(stat(path.c_str(), &st), 0) << path;
      EXPECT_TRUE(S_ISSOCK(st.st_mode));
      EXPECT_EQ(st.st_mode & 0777, 0660u) << path;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(eventEndpointPath(rt.path(), "wgd")));
  EXPECT_FALSE(std::filesystem::exists(requestEndpointPath(rt.path(), "wgd")));
  // A stale file from a crashed run does not stop the next start ...
  auto again = makeBus(loop, rt.path(), "wgd");
  ASSERT_TRUE(again);
  // ... but a running instance's endpoints are not stolen.
  auto second = Bus::create(loop, BusOptions{rt.path(), "wgd"});
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("another instance"), std::string::npos) << second.error().message;
  EXPECT_TRUE(std::filesystem::exists(eventEndpointPath(rt.path(), "wgd")));
}

TEST(Bus, RequestReplyAndCallerIdentity) {
  Loop loop;
  TempRuntime rt;
  auto wgd = makeBus(loop, rt.path(), "wgd");
  auto op = makeBus(loop, rt.path(), "operator");
  ASSERT_TRUE(wgd && op);
  Caller seen;
  wgd->serve("wgd.setConfig", [&](Request req) {
    seen = req.caller();
    uint8_t level = req.params<schema::SetLogLevelParams>().getLevel();
    req.reply(
        [&](capnp::AnyPointer::Builder b) { b.initAs<schema::SetLogLevelParams>().setLevel(level + 1); });
  });
  std::optional<Result<Reply>> got;
  op->setClaimedCaller("apid");
  op->call(
      "wgd", "wgd.setConfig",
      [](capnp::AnyPointer::Builder b) { b.initAs<schema::SetLogLevelParams>().setLevel(41); }, 2000ms,
      [&](Result<Reply> r) { got = std::move(r); });
  ASSERT_TRUE(runUntil(loop, [&] { return got.has_value(); }));
  ASSERT_TRUE(*got) << got->error().message;
  EXPECT_EQ((*got)->as<schema::SetLogLevelParams>().getLevel(), 42);
  // The kernel's uid decides, not claimedCaller.
  EXPECT_EQ(seen.uid, geteuid());
  EXPECT_EQ(seen.pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(seen.service, "operator");
}

TEST(Bus, DeadlineTimeoutUnimplementedAndUndeclared) {
  Loop loop;
  TempRuntime rt;
  auto wgd = makeBus(loop, rt.path(), "wgd");
  auto op = makeBus(loop, rt.path(), "operator");
  std::vector<Request> parked;  // never answered in time
  wgd->serve("wgd.setConfig", [&](Request req) { parked.push_back(req); });

  std::optional<Result<Reply>> slow, unimpl, undeclared, noService;
  auto start = std::chrono::steady_clock::now();
  op->call(
      "wgd", "wgd.setConfig", [](auto b) { b.template initAs<schema::Empty>(); }, 200ms,
      [&](Result<Reply> r) { slow = std::move(r); });
  op->call(
      "wgd", "wgd.commitNodeKey", [](auto b) { b.template initAs<schema::Empty>(); }, 2000ms,
      [&](Result<Reply> r) { unimpl = std::move(r); });
  op->call(
      "wgd", "wgd.dumpKeys", [](auto b) { b.template initAs<schema::Empty>(); }, 2000ms,
      [&](Result<Reply> r) { undeclared = std::move(r); });
  op->call(
      "nosuchd", "x.y", [](auto b) { b.template initAs<schema::Empty>(); }, 2000ms,
      [&](Result<Reply> r) { noService = std::move(r); });
  ASSERT_TRUE(runUntil(loop, [&] { return slow && unimpl && undeclared && noService; }));
  ASSERT_FALSE(*slow);
  EXPECT_EQ(slow->error().kind, ErrorKind::DISCONNECTED);
  EXPECT_NE(slow->error().message.find("timeout"), std::string::npos);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ(op->stats().callsTimedOut, 1u);
  ASSERT_FALSE(*unimpl);
  EXPECT_EQ(unimpl->error().kind, ErrorKind::UNIMPLEMENTED);
  ASSERT_FALSE(*undeclared);
  EXPECT_EQ(undeclared->error().kind, ErrorKind::UNIMPLEMENTED);
  ASSERT_FALSE(*noService);
  EXPECT_EQ(noService->error().kind, ErrorKind::INVALID);
  // A reply after the deadline is dropped, not delivered twice.
  ASSERT_EQ(parked.size(), 1u);
  // The server's deadline counts from receipt, so it ends a little after the caller's.
  EXPECT_TRUE(runUntil(
      loop, [&] { return parked[0].expired(); }, 500ms));
  parked[0].replyEmpty();
  loop.runFor(50ms);
}

TEST(Bus, DroppedRequestGetsNoReplyErrorAndThrowingHandlerGetsInvalid) {
  Loop loop;
  TempRuntime rt;
  auto wgd = makeBus(loop, rt.path(), "wgd");
  auto op = makeBus(loop, rt.path(), "operator");
  wgd->serve("wgd.setConfig", [](Request) {});
  wgd->serve("wgd.commitNodeKey", [](Request req) {
    // Reading a struct as a list is a malformed message from the handler's point of view.
    (void)req.paramsAny().getAs<capnp::List<capnp::Text>>();
  });
  std::optional<Result<Reply>> a, b;
  op->call(
      "wgd", "wgd.setConfig", [](auto p) { p.template initAs<schema::Empty>(); }, 2000ms,
      [&](Result<Reply> r) { a = std::move(r); });
  op->call(
      "wgd", "wgd.commitNodeKey", [](auto p) { p.template initAs<schema::Hello>().setEpoch(1); }, 2000ms,
      [&](Result<Reply> r) { b = std::move(r); });
  ASSERT_TRUE(runUntil(loop, [&] { return a && b; }));
  ASSERT_FALSE(*a);
  EXPECT_EQ(a->error().kind, ErrorKind::FAILED);
  ASSERT_FALSE(*b);
  EXPECT_EQ(b->error().kind, ErrorKind::INVALID);
}

TEST(Bus, GarbageFromARawDealerIsAnsweredInvalid) {
  Loop loop;
  TempRuntime rt;
  auto wgd = makeBus(loop, rt.path(), "wgd");
  zmq::context_t ctx;
  zmq::socket_t d(ctx, zmq::socket_type::dealer);
  d.set(zmq::sockopt::linger, 0);
  d.set(zmq::sockopt::rcvtimeo, 50);
  d.connect("ipc://" + requestEndpointPath(rt.path(), "wgd"));
  const char garbage[] = "\x05\x00\x00\x00\xff\xff\xff\x7f not capnp";
  d.send(zmq::buffer(garbage, sizeof garbage - 1));
  d.send(zmq::buffer(std::string(8, '\xff')));
  int replies = 0;
  for (int i = 0; i < 100 && replies < 2; ++i) {
    loop.runFor(10ms);
    zmq::message_t m;
    if (d.recv(m, zmq::recv_flags::dontwait)) {
      auto in = InMessage::fromBytes(std::span(static_cast<const uint8_t*>(m.data()), m.size()));
      ASSERT_TRUE(in);
      auto env = (*in)->root<schema::ReplyEnvelope>();
      ASSERT_TRUE(env.isError());
      EXPECT_EQ(env.getError().getKind(), schema::ErrorKind::INVALID);
      ++replies;
    }
  }
  EXPECT_EQ(replies, 2);
  EXPECT_EQ(wgd->stats().requestsInvalid, 2u);
}

void publishNodekey(Bus& b, uint64_t v) {
  b.publish("wgd.nodekey", [&](capnp::AnyPointer::Builder p) { p.initAs<schema::Hello>().setEpoch(v); });
}

TEST(Bus, SubscribeGetsRetainedSnapshotThenLiveEventsInOrder) {
  Loop loop;
  TempRuntime rt;
  auto wgd = makeBus(loop, rt.path(), "wgd", 100ms);
  publishNodekey(*wgd, 1);
  publishNodekey(*wgd, 2);  // the retained value is the last one
  auto op = makeBus(loop, rt.path(), "operator");
  std::vector<std::pair<uint64_t, bool>> got;  // value, fromSnapshot
  std::vector<uint64_t> seqs;
  op->subscribe("wgd.nodekey", [&](const Event& ev) {
    got.emplace_back(ev.as<schema::Hello>().getEpoch(), ev.fromSnapshot);
    seqs.push_back(ev.seq);
  });
  int epochs = 0;
  op->onPeerEpoch("wgd", [&](uint64_t e) {
    EXPECT_EQ(e, wgd->epoch());
    ++epochs;
  });
  ASSERT_TRUE(runUntil(loop, [&] { return !got.empty(); }));
  EXPECT_EQ(got[0], std::make_pair(uint64_t{2}, true));
  EXPECT_EQ(seqs[0], 2u);
  // Live events after the slow-joiner window: publish until the subscription is live.
  ASSERT_TRUE(runUntil(loop, [&] { return op->stats().eventsReceived > 0; }));  // hellos arrive
  for (uint64_t v = 3; v <= 5; ++v) publishNodekey(*wgd, v);
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 4; }));
  EXPECT_EQ(got[3], std::make_pair(uint64_t{5}, false));
  EXPECT_EQ(seqs, (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(epochs, 1);
}

TEST(Bus, RetainedEventInTheSlowJoinerWindowIsRecoveredAtTheFirstHello) {
  Loop loop;
  TempRuntime rt;
  auto wgd = makeBus(loop, rt.path(), "wgd", 200ms);
  publishNodekey(*wgd, 1);
  auto op = makeBus(loop, rt.path(), "operator");
  std::vector<uint64_t> values;
  op->subscribe("wgd.nodekey", [&](const Event& ev) { values.push_back(ev.as<schema::Hello>().getEpoch()); });
  ASSERT_TRUE(runUntil(loop, [&] { return !values.empty(); }));
  // Published right after the first snapshot, maybe before the SUB subscription is live: PUB
  // drops it then, and nothing else would be published on this topic.
  publishNodekey(*wgd, 2);
  ASSERT_TRUE(runUntil(
      loop, [&] { return !values.empty() && values.back() == 2; }, 3000ms));
  // The mechanism itself: one more snapshot once the first hello proved the subscription live.
  EXPECT_TRUE(runUntil(
      loop, [&] { return op->stats().snapshots >= 2; }, 3000ms));
}

TEST(Bus, PublisherRestartIsResnapshottedWithNewEpoch) {
  Loop loop;
  TempRuntime rt;
  auto op = makeBus(loop, rt.path(), "operator");
  std::vector<uint64_t> values;
  std::vector<uint64_t> epochs;
  op->subscribe("wgd.nodekey", [&](const Event& ev) { values.push_back(ev.as<schema::Hello>().getEpoch()); });
  op->onPeerEpoch("wgd", [&](uint64_t e) { epochs.push_back(e); });
  uint64_t firstEpoch;
  {
    // Started after the subscriber: found through its hello.
    auto wgd = makeBus(loop, rt.path(), "wgd", 100ms);
    firstEpoch = wgd->epoch();
    publishNodekey(*wgd, 7);
    ASSERT_TRUE(runUntil(
        loop, [&] { return !values.empty(); }, 5000ms));
    EXPECT_EQ(values.back(), 7u);
  }
  auto wgd2 = makeBus(loop, rt.path(), "wgd", 100ms);
  ASSERT_NE(wgd2->epoch(), firstEpoch);
  publishNodekey(*wgd2, 8);
  ASSERT_TRUE(runUntil(
      loop, [&] { return epochs.size() == 2 && values.back() == 8; }, 5000ms));
  EXPECT_EQ(epochs, (std::vector<uint64_t>{firstEpoch, wgd2->epoch()}));
}

// A hand-made publisher (raw PUB + ROUTER at wgd's paths) to produce a sequence gap.
TEST(Bus, SequenceGapTriggersResnapshot) {
  Loop loop;
  TempRuntime rt;
  mkdir((rt.path() + "/wgd").c_str(), 0700);
  zmq::context_t ctx;
  zmq::socket_t pub(ctx, zmq::socket_type::pub);
  zmq::socket_t rpc(ctx, zmq::socket_type::router);
  pub.set(zmq::sockopt::linger, 0);
  rpc.set(zmq::sockopt::linger, 0);
  pub.bind("ipc://" + eventEndpointPath(rt.path(), "wgd"));
  rpc.bind("ipc://" + requestEndpointPath(rt.path(), "wgd"));
  const uint64_t epoch = 99;
  uint64_t snapshotSeq = 10;
  int snapshotsServed = 0;
  auto serveSnapshots = [&] {
    zmq::message_t id, body;
    while (rpc.recv(id, zmq::recv_flags::dontwait)) {
      (void)rpc.recv(body);
      auto in = InMessage::fromBytes(std::span(static_cast<const uint8_t*>(body.data()), body.size()));
      auto req = (*in)->root<schema::RequestEnvelope>();
      EXPECT_EQ(std::string(req.getMethod().cStr()), "sys.snapshot");
      capnp::MallocMessageBuilder mb;
      auto rep = mb.initRoot<schema::ReplyEnvelope>();
      rep.setId(req.getId());
      auto snap = rep.initOk().initAs<schema::Snapshot>();
      snap.setEpoch(epoch);
      auto e = snap.initEntries(1)[0];
      e.setTopic("wgd.nodekey");
      e.setSeq(snapshotSeq);
      e.setHasValue(true);
      e.getPayload().initAs<schema::Hello>().setEpoch(snapshotSeq * 100);
      auto bytes = toBytes(mb);
      rpc.send(id, zmq::send_flags::sndmore);
      rpc.send(zmq::buffer(bytes));
      ++snapshotsServed;
    }
  };
  auto send = [&](uint64_t seq) {
    capnp::MallocMessageBuilder mb;
    auto env = mb.initRoot<schema::EventEnvelope>();
    env.setTopic("wgd.nodekey");
    env.setEpoch(epoch);
    env.setSeq(seq);
    env.getPayload().initAs<schema::Hello>().setEpoch(seq * 100);
    auto bytes = toBytes(mb);
    pub.send(zmq::str_buffer("wgd.nodekey"), zmq::send_flags::sndmore);
    pub.send(zmq::buffer(bytes));
  };
  auto op = makeBus(loop, rt.path(), "operator");
  std::vector<std::pair<uint64_t, bool>> got;
  op->subscribe("wgd.nodekey", [&](const Event& ev) { got.emplace_back(ev.seq, ev.fromSnapshot); });
  ASSERT_TRUE(runUntil(loop, [&] {
    serveSnapshots();
    return !got.empty();
  }));
  EXPECT_EQ(got[0], std::make_pair(uint64_t{10}, true));
  // Wait until the SUB is connected: stale events (seq <= 10) are dropped, not delivered.
  ASSERT_TRUE(runUntil(loop, [&] {
    send(9);
    return op->stats().eventsDropped > 0;
  }));
  EXPECT_EQ(got.size(), 1u);
  send(11);
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 2; }));
  EXPECT_EQ(got[1], std::make_pair(uint64_t{11}, false));
  EXPECT_EQ(op->stats().gaps, 0u);
  int before = snapshotsServed;
  snapshotSeq = 20;
  send(14);  // 12 and 13 lost
  ASSERT_TRUE(runUntil(loop, [&] {
    serveSnapshots();
    return snapshotsServed > before && op->stats().snapshots >= 2;
  }));
  EXPECT_EQ(op->stats().gaps, 1u);
  // 14 delivered live, then the snapshot (seq 20 > 14) brings the retained value.
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 4; }));
  EXPECT_EQ(got[2], std::make_pair(uint64_t{14}, false));
  EXPECT_EQ(got[3], std::make_pair(uint64_t{20}, true));
  send(21);
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 5; }));
  EXPECT_EQ(got[4], std::make_pair(uint64_t{21}, false));
}

// ---- identity with real uids (root only) -----------------------------------------------------

struct SuiteUser {
  uid_t uid;
  gid_t gid;
};

std::optional<SuiteUser> lookupUser(const char* name) {
  struct passwd* pw = getpwnam(name);
  if (!pw) return std::nullopt;
  return SuiteUser{pw->pw_uid, pw->pw_gid};
}

using testing::ChildAs;

class BusAsRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to the tailnetd-* users";
    netstackd_ = lookupUser("tailnetd-netstackd");
    auto group = getgrnam("tailnetd");
    if (!netstackd_ || !group) {
      GTEST_SKIP() << "users missing: run systemd-sysusers packaging/sysusers.d/tailnetd.conf";
    }
    tailnetdGid_ = group->gr_gid;
    chmod(rt_.path().c_str(), 0755);
  }

  // Lets the tailnetd group reach ipnd's endpoints, as when ipnd runs as tailnetd-ipnd.
  void shareWithGroup(const std::string& svc) {
    std::string dir = rt_.path() + "/" + svc;
    ASSERT_EQ(chown(dir.c_str(), 0, tailnetdGid_), 0);
    ASSERT_EQ(chmod(dir.c_str(), 0750), 0);
    for (auto p : {eventEndpointPath(rt_.path(), svc), requestEndpointPath(rt_.path(), svc)}) {
      ASSERT_EQ(chown(p.c_str(), 0, tailnetdGid_), 0);
    }
  }

  TempRuntime rt_;
  std::optional<SuiteUser> netstackd_;
  gid_t tailnetdGid_ = 0;
};

TEST_F(BusAsRoot, DeniedCallGetsErrorDeniedAndPublishesViolation) {
  std::string runtime = rt_.path();
  // The child runs its own loop, pretends to be apid, and reports what it got as exit code.
  ChildAs child(netstackd_->uid, tailnetdGid_, [&]() -> int {
    Loop childLoop;
    auto bus = Bus::create(childLoop, BusOptions{runtime, "operator"});
    if (!bus) return 10;
    (*bus)->setClaimedCaller("apid");
    std::optional<Result<Reply>> r;
    (*bus)->call(
        "ipnd", "ipnd.localapi", [](auto p) { p.template initAs<schema::Empty>(); }, 3000ms,
        [&](Result<Reply> res) { r = std::move(res); });
    runUntil(
        childLoop, [&] { return r.has_value(); }, 5000ms);
    if (!r) return 11;
    if (*r) return 12;  // allowed: wrong
    if (r->error().kind != ErrorKind::DENIED) return 13;
    if (r->error().message.find("netstackd may not call ipnd.localapi") == std::string::npos) return 14;
    return 0;
  });
  Loop loop;
  auto ipnd = makeBus(loop, rt_.path(), "ipnd");
  ASSERT_TRUE(ipnd);
  shareWithGroup("ipnd");
  int served = 0;
  ipnd->serve("ipnd.localapi", [&](Request req) {
    ++served;
    req.replyEmpty();
  });
  auto op = makeBus(loop, rt_.path(), "operator");
  std::vector<std::string> violations;
  op->subscribe("ipnd.violation", [&](const Event& ev) {
    auto v = ev.as<schema::Violation>();
    violations.push_back(std::string(v.getCaller().cStr()) + " " + v.getMethod().cStr() +
                         " claimed=" + v.getClaimedCaller().cStr() + " uid=" + std::to_string(v.getUid()));
  });
  // Let the subscription go live before the child runs (events are not retained).
  ASSERT_TRUE(runUntil(
      loop, [&] { return op->stats().eventsReceived > 0; }, 3000ms));

  child.start();
  ASSERT_TRUE(runUntil(
      loop, [&] { return child.poll().has_value() && !violations.empty(); }, 8000ms))
      << "child status " << child.poll().value_or(-1);
  EXPECT_EQ(child.poll(), 0);
  EXPECT_EQ(served, 0);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0], "netstackd ipnd.localapi claimed=apid uid=" + std::to_string(netstackd_->uid));
  EXPECT_EQ(ipnd->stats().requestsDenied, 1u);
}

TEST_F(BusAsRoot, UndeclaredSubscriptionsReceiveNothing) {
  std::string endpoint = "ipc://" + eventEndpointPath(rt_.path(), "ipnd");
  // netstackd declares ipnd.state (so ipnd.hello) but not ipnd.notify. A raw SUB asks for both.
  ChildAs child(netstackd_->uid, tailnetdGid_, [&]() -> int {
    zmq::context_t ctx;
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::rcvtimeo, 50);
    sub.set(zmq::sockopt::subscribe, "ipnd.notify");
    sub.set(zmq::sockopt::subscribe, "ipnd.hello");
    sub.set(zmq::sockopt::subscribe, "");  // everything: must be refused too
    sub.connect(endpoint);
    int hellos = 0, notifies = 0, others = 0;
    auto end = std::chrono::steady_clock::now() + 1500ms;
    while (std::chrono::steady_clock::now() < end) {
      zmq::message_t topic, body;
      if (!sub.recv(topic)) continue;
      if (topic.more()) (void)sub.recv(body);
      std::string t = topic.to_string();
      if (t == "ipnd.hello") {
        ++hellos;
      } else if (t == "ipnd.notify") {
        ++notifies;
      } else {
        ++others;
      }
    }
    if (hellos == 0) return 20;
    if (notifies != 0) return 21;
    if (others != 0) return 22;
    return 0;
  });
  Loop loop;
  auto ipnd = makeBus(loop, rt_.path(), "ipnd", 50ms);
  ASSERT_TRUE(ipnd);
  shareWithGroup("ipnd");
  auto op = makeBus(loop, rt_.path(), "operator");
  std::vector<std::string> violations;
  op->subscribe("ipnd.violation", [&](const Event& ev) {
    auto v = ev.as<schema::Violation>();
    violations.push_back(std::string(v.getCaller().cStr()) + " " + v.getMethod().cStr());
  });
  ASSERT_TRUE(runUntil(
      loop, [&] { return op->stats().eventsReceived > 0; }, 3000ms));
  child.start();
  Handle notifyTimer = loop.every(20ms, [&] {
    ipnd->publish("ipnd.notify", [](auto b) { b.template initAs<schema::Empty>(); });
    ipnd->publish("ipnd.state", [](auto b) { b.template initAs<schema::Empty>(); });
  });
  ASSERT_TRUE(runUntil(
      loop, [&] { return child.poll().has_value(); }, 8000ms));
  notifyTimer.reset();
  EXPECT_EQ(child.poll(), 0) << "20: no hello, 21: got ipnd.notify, 22: got another topic";
  loop.runFor(50ms);
  EXPECT_NE(std::find(violations.begin(), violations.end(), "netstackd subscribe ipnd.notify"),
            violations.end());
  EXPECT_NE(std::find(violations.begin(), violations.end(), "netstackd subscribe "), violations.end());
}

TEST_F(BusAsRoot, UnknownUidIsRefusedByZapAndTheCallerReconnects) {
  std::string runtime = rt_.path();
  // nobody (65534) in group tailnetd can reach the socket but is not a suite identity.
  ChildAs child(65534, tailnetdGid_, [&]() -> int {
    Loop childLoop;
    auto bus = Bus::create(childLoop, BusOptions{runtime, "operator"});
    if (!bus) return 10;
    std::optional<Result<Reply>> r;
    (*bus)->call(
        "ipnd", "ipnd.localapi", [](auto p) { p.template initAs<schema::Empty>(); }, 10000ms,
        [&](Result<Reply> res) { r = std::move(res); });
    runUntil(
        childLoop, [&] { return r.has_value(); }, 5000ms);
    if (!r) return 11;  // still waiting: the refusal went unnoticed
    if (*r) return 12;
    if (r->error().kind != ErrorKind::DISCONNECTED) return 13;
    if ((*bus)->stats().reconnects < 1) return 14;
    return 0;
  });
  Loop loop;
  auto ipnd = makeBus(loop, rt_.path(), "ipnd");
  ASSERT_TRUE(ipnd);
  shareWithGroup("ipnd");
  ipnd->serve("ipnd.localapi", [&](Request req) { req.replyEmpty(); });
  child.start();
  ASSERT_TRUE(runUntil(
      loop, [&] { return child.poll().has_value(); }, 8000ms));
  EXPECT_EQ(child.poll(), 0);
  EXPECT_EQ(ipnd->stats().requestsServed, 0u);
}

}  // namespace
}  // namespace tnet::bus
