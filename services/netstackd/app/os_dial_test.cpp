// OsConnector's happy-eyeballs race and HostResolver's answers, against loopback only.
#include "services/netstackd/app/os_dial.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "libs/bus/bus_test_util.h"

namespace tnet::netstack {
namespace {

using namespace std::chrono_literals;

const Addr LOOP4 = Addr::v4(127, 0, 0, 1);
Addr loop6() {
  Addr a;
  a.v6 = true;
  a.bytes[15] = 1;
  return a;
}

// A 127.0.0.1 listener; `fill` makes its accept queue full so new SYNs are dropped (a connect
// there hangs, like a black-holed address).
struct Listener {
  explicit Listener(bool fill = false) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd, fill ? 0 : 16);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    for (int i = 0; fill && i < 4; ++i) {
      int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers.push_back(c);
    }
    if (fill) usleep(100 * 1000);
  }
  ~Listener() {
    for (int c : fillers) close(c);
    close(fd);
  }
  int fd;
  uint16_t port;
  std::vector<int> fillers;
};

uint16_t closedPort() {
  Listener l;
  return l.port;  // closed again when l goes away
}

struct Fixture {
  bus::Loop loop;
  Poller poller{loop, nullptr};
  std::optional<OsConnector::Outcome> outcome;
  std::unique_ptr<OsConnector> dial(std::vector<Addr> addrs, uint16_t port) {
    return std::make_unique<OsConnector>(loop, poller, std::move(addrs), port,
                                         [this](OsConnector::Outcome o) { outcome = o; });
  }
  bool wait(std::chrono::milliseconds t = 5000ms) {
    return bus::testing::runUntil(loop, [&] { return outcome.has_value(); }, t);
  }
};

TEST(OsConnector, ConnectsAndReportsTheAddress) {
  Listener l;
  Fixture f;
  auto c = f.dial({LOOP4}, l.port);
  ASSERT_TRUE(f.wait());
  ASSERT_GE(f.outcome->fd, 0);
  EXPECT_EQ(f.outcome->addr, LOOP4);
  close(f.outcome->fd);
}

TEST(OsConnector, AFailedAddressMovesOnAtOnce) {
  Listener l;
  Fixture f;
  // [::1] refuses (the listener is IPv4 only): 127.0.0.1 is tried without waiting 300 ms.
  auto t0 = std::chrono::steady_clock::now();
  auto c = f.dial({loop6(), LOOP4}, l.port);
  ASSERT_TRUE(f.wait());
  ASSERT_GE(f.outcome->fd, 0);
  EXPECT_EQ(f.outcome->addr, LOOP4);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, OsConnector::FALLBACK_DELAY);
  close(f.outcome->fd);
}

TEST(OsConnector, AllFailingReportsTheFirstError) {
  uint16_t port = closedPort();
  Fixture f;
  auto c = f.dial({LOOP4, loop6()}, port);
  ASSERT_TRUE(f.wait());
  EXPECT_LT(f.outcome->fd, 0);
  EXPECT_EQ(f.outcome->err, ECONNREFUSED);
  EXPECT_EQ(f.outcome->addr, LOOP4);
  Fixture none;
  auto d = none.dial({}, port);
  ASSERT_TRUE(none.wait());
  EXPECT_EQ(none.outcome->err, EHOSTUNREACH);
}

TEST(OsConnector, AHangingAddressIsRacedAfterTheFallbackDelay) {
  Listener hang(true);
  Listener live;
  // 127.0.0.1:port hangs (full accept queue); 127.0.0.2:port, also loopback, has a listener.
  int any = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(any, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = inet_addr("127.0.0.2");
  a.sin_port = htons(hang.port);
  ASSERT_EQ(bind(any, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(any, 16), 0);
  Fixture f;
  auto t0 = std::chrono::steady_clock::now();
  auto c = f.dial({LOOP4, Addr::v4(127, 0, 0, 2)}, hang.port);
  ASSERT_TRUE(f.wait());
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_GE(f.outcome->fd, 0);
  EXPECT_EQ(f.outcome->addr, Addr::v4(127, 0, 0, 2));
  EXPECT_GE(took, OsConnector::FALLBACK_DELAY - 20ms);
  EXPECT_LT(took, 3s);
  close(f.outcome->fd);
  close(any);
}

TEST(HostResolver, AnswersOnTheLoopFromEtcHosts) {
  bus::Loop loop;
  HostResolver r(loop);
  std::optional<HostResolver::Answer> got;
  bool inside = true;
  r.resolve("localhost", [&](HostResolver::Answer a) {
    EXPECT_FALSE(inside) << "answers never run inside resolve()";
    got = std::move(a);
  });
  inside = false;
  ASSERT_TRUE(bus::testing::runUntil(loop, [&] { return got.has_value(); }, 5000ms));
  ASSERT_EQ(got->gaiError, 0);
  bool loopback = std::find(got->addrs.begin(), got->addrs.end(), LOOP4) != got->addrs.end() ||
                  std::find(got->addrs.begin(), got->addrs.end(), loop6()) != got->addrs.end();
  EXPECT_TRUE(loopback) << "localhost is 127.0.0.1 or ::1";
  // A numeric name needs no lookup at all and comes back the same.
  got.reset();
  r.resolve("127.0.0.1", [&](HostResolver::Answer a) { got = std::move(a); });
  ASSERT_TRUE(bus::testing::runUntil(loop, [&] { return got.has_value(); }, 5000ms));
  ASSERT_EQ(got->addrs, std::vector<Addr>{LOOP4});
}

}  // namespace
}  // namespace tnet::netstack
