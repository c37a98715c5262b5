#include "libs/bus/data_pipe.h"

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
    }
  }
}

}  // namespace
}  // namespace tnet::bus
