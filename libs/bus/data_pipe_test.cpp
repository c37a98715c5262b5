#include "libs/bus/data_pipe.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <zmq.hpp>

#include "libs/bus/bus.h"
#include "libs/bus/bus_test_util.h"
#include "libs/bus/data_pipe_internal.h"
#include "libs/bus/endpoints.h"

namespace tnet::bus {
namespace {

using namespace std::chrono_literals;
using testing::runUntil;
using testing::TempRuntime;

TEST(BatchFrame, ParsesAndRejects) {
  std::vector<std::span<const uint8_t>> out(4);
  size_t n = 0;
  const uint8_t good[] = {2, 0, 3, 0, 'a', 'b', 'c', 1, 0, 'z'};
  ASSERT_TRUE(parseBatchFrame(good, out, n));
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(std::string(out[0].begin(), out[0].end()), "abc");
  EXPECT_EQ(std::string(out[1].begin(), out[1].end()), "z");
  const uint8_t trailing[] = {1, 0, 1, 0, 'a', 'x'};
  EXPECT_FALSE(parseBatchFrame(trailing, out, n));
  const uint8_t shortLen[] = {1, 0, 9, 0, 'a'};
  EXPECT_FALSE(parseBatchFrame(shortLen, out, n));
  const uint8_t tooMany[] = {5, 0};
  EXPECT_FALSE(parseBatchFrame(tooMany, out, n));
  const uint8_t zero[] = {0, 0};
  EXPECT_FALSE(parseBatchFrame(zero, out, n));
  EXPECT_FALSE(parseBatchFrame(std::span<const uint8_t>(), out, n));
}

class DataPipe : public ::testing::TestWithParam<PipeBackend> {};

std::vector<uint8_t> packetFor(uint32_t i, size_t size) {
  std::vector<uint8_t> p(size, static_cast<uint8_t>(i * 7));
  std::memcpy(p.data(), &i, sizeof i);
  return p;
}

TEST_P(DataPipe, PassesBatchesInOrderAndCountsDrops) {
  Loop loop;
  TempRuntime rt;
  auto bus = Bus::create(loop, BusOptions{rt.path(), "operator"});
  ASSERT_TRUE(bus);
  mkdir((rt.path() + "/wgd").c_str(), 0700);
  std::vector<uint32_t> got;
  size_t batches = 0;
  bool contentOk = true;
  auto rx = openPipeReceiverAs(**bus, GetParam(), "wgd", "netstackd", [&](auto packets) {
    ++batches;
    for (auto p : packets) {
      uint32_t i;
      std::memcpy(&i, p.data(), sizeof i);
      auto want = packetFor(i, p.size());
      if (!std::equal(p.begin(), p.end(), want.begin(), want.end())) contentOk = false;
      got.push_back(i);
    }
  });
  ASSERT_TRUE(rx) << rx.error().message;
  auto tx = openPipeSenderAs(**bus, GetParam(), "netstackd", "wgd");
  ASSERT_TRUE(tx) << tx.error().message;
  PipeSender& s = **tx;
  // A second receiver for the same pipe fails and leaves the first one's endpoint alone.
  auto dup = openPipeReceiverAs(**bus, GetParam(), "wgd", "netstackd", [](auto) {});
  ASSERT_FALSE(dup);
  EXPECT_TRUE(std::filesystem::exists(pipeEndpointPath(rt.path(), "wgd", "netstackd")));

  // Warm up until the connection is there (packets before it are dropped and counted).
  uint32_t next = 1000000;
  ASSERT_TRUE(runUntil(loop, [&] {
    s.push(packetFor(next++, 100));
    s.flush();
    return !got.empty();
  }));
  loop.runFor(20ms);
  got.clear();
  batches = 0;
  uint64_t droppedBefore = s.stats().dropsFull;

  for (uint32_t b = 0; b < 3; ++b) {
    for (uint32_t i = 0; i < 32; ++i) ASSERT_TRUE(s.push(packetFor(b * 32 + i, 1400)));
    s.flush();
  }
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 96; }));
  EXPECT_TRUE(contentOk);
  for (uint32_t i = 0; i < 96; ++i) EXPECT_EQ(got[i], i);
  EXPECT_GE(batches, 1u);
  EXPECT_EQ(s.stats().dropsFull, droppedBefore);

  // Too big and empty packets are refused at push.
  std::vector<uint8_t> big(3000, 1);
  EXPECT_FALSE(s.push(big));
  EXPECT_EQ(s.stats().dropsTooBig, 1u);
  EXPECT_FALSE(s.push(std::span<const uint8_t>()));

  // Flood without letting the receiver run: queues fill, sends drop and count, nothing blocks.
  got.clear();
  const uint32_t total = 100000;
  for (uint32_t i = 0; i < total; ++i) s.push(packetFor(i, 1400));
  s.flush();
  uint64_t dropped = s.stats().dropsFull - droppedBefore;
  EXPECT_GT(dropped, 0u);
  ASSERT_TRUE(runUntil(
      loop, [&] { return got.size() + dropped == total; }, 5000ms))
      << "got " << got.size() << " dropped " << dropped;
  for (size_t i = 1; i < got.size(); ++i) ASSERT_LT(got[i - 1], got[i]);  // in order, no dups
}

TEST_P(DataPipe, SenderWithoutReceiverDropsAndLaterConnects) {
  Loop loop;
  TempRuntime rt;
  auto bus = Bus::create(loop, BusOptions{rt.path(), "operator"});
  ASSERT_TRUE(bus);
  mkdir((rt.path() + "/wgd").c_str(), 0700);
  auto tx = openPipeSenderAs(**bus, GetParam(), "netstackd", "wgd");
  ASSERT_TRUE(tx);
  (*tx)->push(packetFor(1, 10));
  (*tx)->flush();
  EXPECT_EQ((*tx)->stats().dropsFull, 1u);
  EXPECT_FALSE((*tx)->connected());
  size_t got = 0;
  auto rx =
      openPipeReceiverAs(**bus, GetParam(), "wgd", "netstackd", [&](auto packets) { got += packets.size(); });
  ASSERT_TRUE(rx);
  ASSERT_TRUE(runUntil(loop, [&] {
    (*tx)->push(packetFor(2, 10));
    (*tx)->flush();
    return got > 0;
  }));
  EXPECT_TRUE((*tx)->connected());
}

uint32_t packetId(std::span<const uint8_t> p) {
  uint32_t i = 0;
  std::memcpy(&i, p.data(), sizeof i);
  return i;
}

// Longer than the sender's HEALTHY_AFTER: a connection this old reached a real receiver.
constexpr auto SETTLE = 300ms;

// A receiver destroyed and created again on the same endpoint, as a restarted service does.
TEST_P(DataPipe, RestartedReceiverIsReconnectedWithoutASend) {
  Loop loop;
  TempRuntime rt;
  auto bus = Bus::create(loop, BusOptions{rt.path(), "operator"});
  ASSERT_TRUE(bus);
  mkdir((rt.path() + "/wgd").c_str(), 0700);
  std::vector<uint32_t> got;
  auto open = [&] {
    return openPipeReceiverAs(**bus, GetParam(), "wgd", "netstackd", [&](auto packets) {
      for (auto p : packets) got.push_back(packetId(p));
    });
  };
  auto rx = open();
  ASSERT_TRUE(rx) << rx.error().message;
  auto tx = openPipeSenderAs(**bus, GetParam(), "netstackd", "wgd");
  ASSERT_TRUE(tx);
  PipeSender& s = **tx;
  ASSERT_TRUE(runUntil(loop, [&] { return s.connected(); }));
  ASSERT_TRUE(s.push(packetFor(1, 100)));
  s.flush();
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 1; }));
  loop.runFor(SETTLE);
  const PipeStats before = s.stats();

  for (uint32_t round = 0; round < 3; ++round) {
    rx->reset();  // the receiving service goes away
    ASSERT_TRUE(runUntil(
        loop, [&] { return !s.connected(); }, 2000ms))
        << "round " << round;
    rx = open();  // and is back, on the same endpoint
    ASSERT_TRUE(rx) << rx.error().message;
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(runUntil(
        loop, [&] { return s.connected(); }, 2000ms))
        << "round " << round;
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, testing::scaled(1000ms)) << "round " << round;
    RecordProperty("reconnect_us_round" + std::to_string(round),
                   static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
    // The very first packet pushed to the new receiver arrives.
    uint32_t id = 100 + round;
    ASSERT_TRUE(s.push(packetFor(id, 100)));
    s.flush();
    ASSERT_TRUE(runUntil(
        loop, [&] { return !got.empty() && got.back() == id; }, 2000ms))
        << "round " << round;
    loop.runFor(SETTLE);
  }
  EXPECT_EQ(s.stats().dropsFull, before.dropsFull);
  EXPECT_EQ(got, (std::vector<uint32_t>{1, 100, 101, 102}));
}

// Receiver gone while the loop did not run yet: the send that finds the dead peer moves its batch
// to a fresh connection (the new receiver) instead of dropping it. SEQPACKET only: ZeroMQ
// reconnects in its own I/O thread and a send meanwhile fails (ZMQ_IMMEDIATE), see docs/bus.md.
TEST(DataPipeSeqpacket, SendToDeadPeerRetriesOnFreshConnection) {
  Loop loop;
  TempRuntime rt;
  auto bus = Bus::create(loop, BusOptions{rt.path(), "operator"});
  ASSERT_TRUE(bus);
  mkdir((rt.path() + "/wgd").c_str(), 0700);
  std::vector<uint32_t> got;
  auto open = [&] {
    return openPipeReceiverAs(**bus, PipeBackend::SEQPACKET, "wgd", "netstackd", [&](auto packets) {
      for (auto p : packets) got.push_back(packetId(p));
    });
  };
  auto rx = open();
  ASSERT_TRUE(rx);
  auto tx = openPipeSenderAs(**bus, PipeBackend::SEQPACKET, "netstackd", "wgd");
  ASSERT_TRUE(tx);
  PipeSender& s = **tx;
  ASSERT_TRUE(runUntil(loop, [&] { return s.connected(); }));
  loop.runFor(SETTLE);

  rx->reset();
  rx = open();
  ASSERT_TRUE(rx);
  EXPECT_TRUE(s.connected());  // the hang-up has not been seen yet: the loop has not run
  for (uint32_t i = 0; i < 10; ++i) ASSERT_TRUE(s.push(packetFor(i, 200)));
  s.flush();
  EXPECT_EQ(s.stats().dropsFull, 0u);
  EXPECT_EQ(s.stats().packets, 10u);
  EXPECT_TRUE(s.connected());
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 10; }));
  for (uint32_t i = 0; i < 10; ++i) EXPECT_EQ(got[i], i);

  // The retry is made once and only towards a receiver that accepts at once: with nobody
  // listening the batch is dropped and counted.
  loop.runFor(SETTLE);
  rx->reset();
  for (uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(s.push(packetFor(i, 200)));
  s.flush();
  EXPECT_EQ(s.stats().dropsFull, 5u);
  EXPECT_FALSE(s.connected());

  // While nobody listens, flush() itself tries to connect (at most once a millisecond), so the
  // first packet after the new receiver's listen() arrives without waiting for the retry timer
  // (the loop does not run here, so the timer cannot have fired).
  got.clear();
  rx = open();
  ASSERT_TRUE(rx);
  std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(s.connected());
  ASSERT_TRUE(s.push(packetFor(77, 200)));
  s.flush();
  EXPECT_TRUE(s.connected());
  EXPECT_EQ(s.stats().dropsFull, 5u);
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 1; }));
  EXPECT_EQ(got[0], 77u);
}

// The receiver vanishes mid-stream with packets still queued to it: what was queued is lost
// (bounded by the queue), what is pushed while nobody listens is dropped and counted, no flush
// blocks, and everything pushed once the new receiver is up arrives in order.
TEST_P(DataPipe, ReceiverKilledMidStreamLosesABoundedNumber) {
  Loop loop;
  TempRuntime rt;
  auto bus = Bus::create(loop, BusOptions{rt.path(), "operator"});
  ASSERT_TRUE(bus);
  mkdir((rt.path() + "/wgd").c_str(), 0700);
  std::vector<uint32_t> got;
  auto open = [&] {
    return openPipeReceiverAs(**bus, GetParam(), "wgd", "netstackd", [&](auto packets) {
      for (auto p : packets) got.push_back(packetId(p));
    });
  };
  auto rx = open();
  ASSERT_TRUE(rx);
  auto tx = openPipeSenderAs(**bus, GetParam(), "netstackd", "wgd");
  ASSERT_TRUE(tx);
  PipeSender& s = **tx;
  ASSERT_TRUE(runUntil(loop, [&] { return s.connected(); }));
  loop.runFor(SETTLE);

  uint32_t next = 0;
  auto slowest = std::chrono::steady_clock::duration::zero();
  auto pump = [&](uint32_t n, bool runLoop) {
    for (uint32_t k = 0; k < n; ++k) {
      auto t0 = std::chrono::steady_clock::now();
      s.push(packetFor(next++, 200));
      s.flush();
      slowest = std::max(slowest, std::chrono::steady_clock::now() - t0);
      if (runLoop) loop.runFor(1ms);
    }
  };
  pump(100, true);
  ASSERT_TRUE(runUntil(loop, [&] { return got.size() == 100; }));
  const uint32_t IN_FLIGHT = 10;
  pump(IN_FLIGHT, false);  // queued to the receiver, never read by it
  rx->reset();
  const uint32_t ABSENT = 50;
  pump(ABSENT, true);  // nobody listening
  EXPECT_FALSE(s.connected());
  uint64_t droppedAbsent = s.stats().dropsFull;
  EXPECT_GT(droppedAbsent, 0u);
  EXPECT_LE(droppedAbsent, ABSENT);

  rx = open();
  ASSERT_TRUE(rx);
  ASSERT_TRUE(runUntil(
      loop, [&] { return s.connected(); }, 2000ms));
  const uint32_t firstAfter = next;
  pump(100, true);
  ASSERT_TRUE(runUntil(
      loop, [&] { return !got.empty() && got.back() == next - 1; }, 2000ms));
  loop.runFor(20ms);
  EXPECT_EQ(s.stats().dropsFull, droppedAbsent);  // none dropped once the receiver is back
  EXPECT_LT(slowest, std::chrono::milliseconds(50));

  // Accounting: every packet was delivered, dropped and counted, or lost in the dead queue.
  uint64_t pushed = next;
  uint64_t lost = s.stats().packets - got.size();
  EXPECT_EQ(got.size() + s.stats().dropsFull + lost, pushed);
  EXPECT_LE(lost + s.stats().dropsFull, IN_FLIGHT + ABSENT);
  if (GetParam() == PipeBackend::SEQPACKET) {
    EXPECT_EQ(lost, IN_FLIGHT);
    EXPECT_EQ(s.stats().dropsFull, ABSENT);
  }
  for (size_t i = 1; i < got.size(); ++i) ASSERT_LT(got[i - 1], got[i]);
  auto firstNew = std::find(got.begin(), got.end(), firstAfter);
  ASSERT_NE(firstNew, got.end());
  EXPECT_EQ(static_cast<size_t>(got.end() - firstNew), 100u);
}

// The same with real processes: the receiver runs in a child (this binary re-executed) that is
// killed with SIGKILL and started again, as the supervisor restarts a crashed service.
constexpr const char* CHILD_ENV = "TNET_PIPE_TEST_RECEIVER";
constexpr int CHILD_REPORT_FD = 3;

TEST(DataPipeChild, Receiver) {
  const char* spec = std::getenv(CHILD_ENV);
  if (spec == nullptr) GTEST_SKIP() << "only runs as the receiver process of ReceiverProcessRestarts";
  std::string_view sv(spec);
  auto colon = sv.find(':');
  ASSERT_NE(colon, std::string_view::npos);
  auto backend = parsePipeBackend(sv.substr(0, colon));
  ASSERT_TRUE(backend);
  Loop loop;
  auto bus = Bus::create(loop, BusOptions{std::string(sv.substr(colon + 1)), "operator"});
  ASSERT_TRUE(bus);
  auto rx = openPipeReceiverAs(**bus, *backend, "wgd", "netstackd", [&](auto packets) {
    for (auto p : packets) {
      if (write(CHILD_REPORT_FD, p.data(), sizeof(uint32_t)) != sizeof(uint32_t)) _exit(4);
    }
  });
  ASSERT_TRUE(rx) << rx.error().message;
  loop.run();  // until killed
}

class ReceiverProcess {
 public:
  ReceiverProcess(PipeBackend backend, const std::string& runtime) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) std::abort();
    read_ = fds[0];
    fcntl(read_, F_SETFL, O_NONBLOCK);
    // Everything the child needs is built before fork: only async-signal-safe calls after it.
    std::string env = std::string(CHILD_ENV) + "=" + std::string(pipeBackendName(backend)) + ":" + runtime;
    std::vector<std::string> envStrings{env};
    for (char** e = environ; *e != nullptr; ++e) envStrings.emplace_back(*e);
    std::vector<char*> envp;
    for (auto& e : envStrings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::string filter = "--gtest_filter=DataPipeChild.Receiver";
    char exe[] = "/proc/self/exe";
    char* argv[] = {exe, filter.data(), nullptr};
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pid_ = fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      if (dup2(fds[1], CHILD_REPORT_FD) < 0 || dup2(devnull, STDOUT_FILENO) < 0) _exit(5);
      execve(exe, argv, envp.data());
      _exit(6);
    }
    close(fds[1]);
    close(devnull);
  }
  ReceiverProcess(const ReceiverProcess&) = delete;
  ReceiverProcess& operator=(const ReceiverProcess&) = delete;
  ~ReceiverProcess() {
    kill9();
    close(read_);
  }

  void kill9() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // Packet ids the child received so far.
  const std::vector<uint32_t>& received() {
    uint32_t id;
    while (read(read_, &id, sizeof id) == sizeof id) ids_.push_back(id);
    return ids_;
  }

 private:
  pid_t pid_ = -1;
  int read_ = -1;
  std::vector<uint32_t> ids_;
};

TEST_P(DataPipe, ReceiverProcessRestarts) {
  Loop loop;
  TempRuntime rt;
  auto bus = Bus::create(loop, BusOptions{rt.path(), "operator"});
  ASSERT_TRUE(bus);
  mkdir((rt.path() + "/wgd").c_str(), 0700);
  auto tx = openPipeSenderAs(**bus, GetParam(), "netstackd", "wgd");
  ASSERT_TRUE(tx);
  PipeSender& s = **tx;

  auto first = std::make_unique<ReceiverProcess>(GetParam(), rt.path());
  ASSERT_TRUE(runUntil(
      loop, [&] { return s.connected(); }, 5000ms));
  ASSERT_TRUE(s.push(packetFor(1, 100)));
  s.flush();
  ASSERT_TRUE(runUntil(loop, [&] { return first->received().size() == 1; }));
  loop.runFor(SETTLE);
  uint64_t droppedBefore = s.stats().dropsFull;

  first->kill9();
  ASSERT_TRUE(runUntil(
      loop, [&] { return !s.connected(); }, 2000ms));
  ReceiverProcess second(GetParam(), rt.path());
  ASSERT_TRUE(runUntil(
      loop, [&] { return s.connected(); }, 5000ms));
  ASSERT_TRUE(s.push(packetFor(2, 100)));
  s.flush();
  ASSERT_TRUE(runUntil(loop, [&] { return second.received().size() == 1; }));
  EXPECT_EQ(second.received()[0], 2u);
  EXPECT_EQ(s.stats().dropsFull, droppedBefore);
}

TEST_P(DataPipe, ManifestDecidesWhichPipesExist) {
  Loop loop;
  TempRuntime rt;
  auto wgd = Bus::create(loop, BusOptions{rt.path(), "wgd"});
  ASSERT_TRUE(wgd);
  auto ok = openPipeReceiver(**wgd, GetParam(), "netstackd", [](auto) {});
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().message);
  auto bad = openPipeReceiver(**wgd, GetParam(), "controld", [](auto) {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::INVALID);
  auto tx = openPipeSender(**wgd, GetParam(), "magicsockd");
  EXPECT_TRUE(tx);
  EXPECT_FALSE(openPipeSender(**wgd, GetParam(), "ipnd"));
}

INSTANTIATE_TEST_SUITE_P(Backends, DataPipe,
                         ::testing::Values(PipeBackend::ZMQ_PUSH_PULL, PipeBackend::SEQPACKET),
                         [](const auto& info) { return std::string(pipeBackendName(info.param)); });

TEST(DataPipeZmq, MalformedBatchIsCountedNotDelivered) {
  Loop loop;
  TempRuntime rt;
  auto bus = Bus::create(loop, BusOptions{rt.path(), "operator"});
  mkdir((rt.path() + "/wgd").c_str(), 0700);
  size_t got = 0;
  auto rx = openPipeReceiverAs(**bus, PipeBackend::ZMQ_PUSH_PULL, "wgd", "netstackd",
                               [&](auto packets) { got += packets.size(); });
  ASSERT_TRUE(rx);
  zmq::context_t ctx;
  zmq::socket_t push(ctx, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 0);
  push.connect("ipc://" + pipeEndpointPath(rt.path(), "wgd", "netstackd"));
  ASSERT_TRUE(runUntil(loop, [&] {
    push.send(zmq::str_buffer("\x02\x00\x05\x00xy"), zmq::send_flags::dontwait);
    return (*rx)->stats().dropsMalformed > 0;
  }));
  EXPECT_EQ(got, 0u);
}

// Root only: a pipe admits only its declared sender's uid.
TEST(DataPipeAsRoot, OtherUidsAreRejected) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to the tailnetd-* users";
  struct passwd* apid = getpwnam("tailnetd-apid");
  struct group* grp = getgrnam("tailnetd");
  if (!apid || !grp) GTEST_SKIP() << "users missing: run systemd-sysusers packaging/sysusers.d/tailnetd.conf";
  uid_t uid = apid->pw_uid;
  gid_t gid = grp->gr_gid;
  for (auto backend : {PipeBackend::SEQPACKET, PipeBackend::ZMQ_PUSH_PULL}) {
    Loop loop;
    TempRuntime rt;
    chmod(rt.path().c_str(), 0755);
    auto bus = Bus::create(loop, BusOptions{rt.path(), "operator"});
    std::string dir = rt.path() + "/wgd";
    mkdir(dir.c_str(), 0750);
    ASSERT_EQ(chown(dir.c_str(), 0, gid), 0);
    size_t got = 0;
    auto rx = openPipeReceiverAs(**bus, backend, "wgd", "netstackd", [&](auto p) { got += p.size(); });
    ASSERT_TRUE(rx);
    ASSERT_EQ(chown(pipeEndpointPath(rt.path(), "wgd", "netstackd").c_str(), 0, gid), 0);
    std::string runtime = rt.path();
    std::atomic<bool> done{false};
    std::thread child([&] {
      pid_t pid = fork();
      if (pid == 0) {
        if (setgroups(0, nullptr) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) _exit(90);
        Loop l;
        auto b = Bus::create(l, BusOptions{runtime, "operator"});
        auto tx = openPipeSenderAs(**b, backend, "netstackd", "wgd");
        for (int i = 0; i < 50; ++i) {
          (*tx)->push(packetFor(static_cast<uint32_t>(i), 64));
          (*tx)->flush();
          l.runFor(10ms);
        }
        _exit(0);
      }
      waitpid(pid, nullptr, 0);
      done = true;
    });
    runUntil(
        loop, [&] { return done.load(); }, 5000ms);
    child.join();
    loop.runFor(50ms);
    EXPECT_EQ(got, 0u) << pipeBackendName(backend);
    if (backend == PipeBackend::SEQPACKET) {
      EXPECT_GE((*rx)->stats().rejectedPeers, 1u);
      // The refused sender backs off (its connections die young) rather than reconnecting at
      // once on every hang-up: a few attempts in the half second, two connections each.
      EXPECT_LE((*rx)->stats().rejectedPeers, 20u);
    }
  }
}

}  // namespace
}  // namespace tnet::bus
