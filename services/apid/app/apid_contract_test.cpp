// Contract tests of the real bin/apid: started as tailnetd starts it (the listening LocalAPI
// socket on fd 3 with LISTEN_FDS=1), driven with real HTTP/1.1 over the Unix socket. The first
// suite runs apid alone (every answer apid gives without ipnd, and 503 for the rest); the second
// adds the real bin/ipnd on the bus when it is built.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "services/apid/app/test_support.h"
#include "services/apid/core/limits.h"

namespace tnet::apid::testing {
namespace {

using std::chrono::milliseconds;

const milliseconds IO = milliseconds(5000);

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// apid (and optionally ipnd) in a scratch directory.
class Suite {
 public:
  explicit Suite(bool withIpnd, std::vector<std::string> apidExtra = {}) {
    runtime_ = dir_.path() + "/rt";
    state_ = dir_.path() + "/st";
    socket_ = dir_.path() + "/s";
    mkdir(runtime_.c_str(), 0700);
    mkdir(state_.c_str(), 0700);
    mkdir((state_ + "/ipnd").c_str(), 0700);
    mkdir((state_ + "/apid").c_str(), 0700);
    if (withIpnd) {
      startIpnd();
      if (!waitForPath(runtime_ + "/ipnd/rpc", scaled(milliseconds(10000)))) {
        error_ = "ipnd did not bind its endpoints: " + slurp(dir_.path() + "/ipnd.log");
        return;
      }
    }
    int fd = listenUnix(socket_);
    if (fd < 0) {
      error_ = "cannot listen on " + socket_;
      return;
    }
    std::vector<std::string> argv = {binDir() + "/apid", "--runtime-dir", runtime_, "--state-dir",
                                     state_ + "/apid", "--owner-uid", std::to_string(getuid()),
                                     "--ipnd-timeout-ms", withIpnd ? "5000" : "300",
                                     "--header-timeout-ms",
                                     std::to_string(scaled(milliseconds(500)).count())};
    argv.insert(argv.end(), apidExtra.begin(), apidExtra.end());
    apid_ = std::make_unique<Process>(argv, fd, dir_.path() + "/apid.log");
    close(fd);  // apid holds it now; clients queue in the backlog until it accepts
  }

  void startIpnd() {
    ipnd_ = std::make_unique<Process>(
        std::vector<std::string>{binDir() + "/ipnd", "--runtime-dir", runtime_, "--state-dir",
                                 state_ + "/ipnd"},
        -1, dir_.path() + "/ipnd.log");
  }

  void restartIpnd() {
    ipnd_.reset();
    startIpnd();
    waitForPath(runtime_ + "/ipnd/rpc", scaled(milliseconds(10000)));
  }

  const std::string& error() const { return error_; }
  const std::string& socket() const { return socket_; }
  std::string apidLog() const { return slurp(dir_.path() + "/apid.log"); }
  std::string ipndLog() const { return slurp(dir_.path() + "/ipnd.log"); }
  Process& apid() { return *apid_; }

  std::optional<HttpResponse> call(const std::string& raw, milliseconds timeout = IO) {
    return roundTrip(socket_, raw, scaled(timeout));
  }

 private:
  TempDir dir_;
  std::string runtime_, state_, socket_, error_;
  std::unique_ptr<Process> ipnd_;
  std::unique_ptr<Process> apid_;
};

// ---- apid alone --------------------------------------------------------------------------------

class ApidAlone : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access((binDir() + "/apid").c_str(), X_OK) != 0) GTEST_SKIP() << "bin/apid not built";
    suite_ = std::make_unique<Suite>(false);
    ASSERT_EQ(suite_->error(), "");
  }
  void TearDown() override {
    if (HasFailure() && suite_) std::fprintf(stderr, "apid log:\n%s\n", suite_->apidLog().c_str());
  }
  std::unique_ptr<Suite> suite_;
};

TEST_F(ApidAlone, UnknownPathIs404WithGoHeaders) {
  auto r = suite_->call(request("GET", "/localapi/v0/no-such-thing"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "404 page not found\n");
  EXPECT_EQ(r->header("tailscale-version"), TNET_VERSION);
  EXPECT_EQ(r->header("tailscale-cap"), "145");
  EXPECT_EQ(r->header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r->header("x-content-type-options"), "nosniff");
  EXPECT_NE(r->header("date"), "<absent>");
}

TEST_F(ApidAlone, WrongMethodsGetGoStatuses) {
  auto prefs = suite_->call(request("POST", "/localapi/v0/prefs", "{}"));
  ASSERT_TRUE(prefs);
  EXPECT_EQ(prefs->status, 405);
  EXPECT_EQ(prefs->body, "unsupported method\n");
  auto start = suite_->call(request("GET", "/localapi/v0/start"));
  ASSERT_TRUE(start);
  EXPECT_EQ(start->status, 400);
  EXPECT_EQ(start->body, "want POST\n");
  auto connect = suite_->call("CONNECT local-tailscaled.sock:443 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(connect);
  EXPECT_EQ(connect->status, 405);
}

TEST_F(ApidAlone, OriginRefererAndForeignHostAre403) {
  for (const std::string extra : {"Origin: http://evil.example\r\n", "Referer: http://evil.example/\r\n"}) {
    auto r = suite_->call(request("GET", "/localapi/v0/status", "", extra));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    EXPECT_EQ(r->body, "invalid localapi request\n");
    EXPECT_EQ(r->header("tailscale-version"), "<absent>");
  }
  auto host = suite_->call("GET /localapi/v0/status HTTP/1.1\r\nHost: localhost:41112\r\n\r\n");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->status, 403);
}

TEST_F(ApidAlone, MissingHostIs400AndCloses) {
  auto r = suite_->call("GET /localapi/v0/status HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "400 Bad Request: missing required Host header");
  EXPECT_TRUE(r->closed);
}

TEST_F(ApidAlone, GarbageIs400) {
  auto r = suite_->call("\x01\x02 nonsense\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(ApidAlone, OversizedHeadersAre431) {
  std::string big = "X-Filler: " + std::string(MAX_HEADER_BYTES, 'a') + "\r\n";
  HttpConn c(suite_->socket());
  ASSERT_TRUE(c.connected());
  c.send(request("GET", "/localapi/v0/status", "", big));
  auto r = c.read(scaled(IO));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_TRUE(c.waitClosed(scaled(IO)));
}

TEST_F(ApidAlone, OversizedBodyIs413BeforeItIsSent) {
  // Content-Length over the limit is refused from the head alone (curl's Expect: 100-continue
  // flow too): the client never has to push the megabytes.
  std::string head = "PATCH /localapi/v0/prefs HTTP/1.1\r\nHost: local-tailscaled.sock\r\n"
                     "Content-Length: " + std::to_string(MAX_BODY_BYTES + 1) +
                     "\r\nExpect: 100-continue\r\n\r\n";
  auto r = suite_->call(head);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(r->closed);
}

TEST_F(ApidAlone, OversizedChunkedBodyIs413) {
  HttpConn c(suite_->socket());
  c.send("PATCH /localapi/v0/prefs HTTP/1.1\r\nHost: local-tailscaled.sock\r\n"
         "Transfer-Encoding: chunked\r\n\r\n");
  std::string chunk(64 * 1024, ' ');
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
  for (size_t sent = 0; sent <= MAX_BODY_BYTES; sent += chunk.size()) {
    if (!c.send(size + chunk + "\r\n")) break;  // apid may already have answered and closed
  }
  auto r = c.read(scaled(IO));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ApidAlone, BadJsonIs400WithGoText) {
  auto r = suite_->call(request("PATCH", "/localapi/v0/prefs", "{\"WantRunning\":"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, "unexpected EOF\n");
  auto c = suite_->call(request("POST", "/localapi/v0/check-prefs", "[]"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 400);
  EXPECT_EQ(c->body, "invalid JSON body\n");
}

TEST_F(ApidAlone, ForwardedRequestsAre503WithoutIpnd) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = suite_->call(request("GET", "/localapi/v0/status"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("ipnd did not answer"), std::string::npos) << r->body;
  EXPECT_EQ(r->header("tailscale-version"), TNET_VERSION);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, scaled(milliseconds(3000)));
  auto w = suite_->call(request("GET", "/localapi/v0/watch-ipn-bus?mask=2"));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->status, 503);
}

TEST_F(ApidAlone, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpConn c(suite_->socket());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.send(request("GET", "/localapi/v0/nope")));
    auto r = c.read(scaled(IO));
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 404);
    EXPECT_FALSE(r->closed);
  }
  // Pipelined: two requests in one write, two answers in order.
  ASSERT_TRUE(c.send(request("GET", "/localapi/v0/a") + request("GET", "/localapi/v0/start")));
  EXPECT_EQ(c.read(scaled(IO))->status, 404);
  EXPECT_EQ(c.read(scaled(IO))->status, 400);
}

TEST_F(ApidAlone, SlowClientTimesOutAndNeverBlocksOthers) {
  HttpConn slow(suite_->socket());
  ASSERT_TRUE(slow.send("GET /localapi/v0/status HTTP/1.1\r\nHo"));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    auto r = suite_->call(request("GET", "/localapi/v0/nope"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, scaled(milliseconds(2000)));
  // The header deadline (500 ms here) closes the stalled connection.
  EXPECT_TRUE(slow.waitClosed(scaled(milliseconds(3000))));
  // An idle connection that never sent a byte is closed by the same deadline.
  HttpConn idle(suite_->socket());
  EXPECT_TRUE(idle.waitClosed(scaled(milliseconds(3000))));
}

TEST_F(ApidAlone, ManyConcurrentClients) {
  constexpr int N = 200;
  std::vector<std::unique_ptr<HttpConn>> conns;
  for (int i = 0; i < N; ++i) {
    conns.push_back(std::make_unique<HttpConn>(suite_->socket()));
    ASSERT_TRUE(conns.back()->connected()) << i;
  }
  for (auto& c : conns) ASSERT_TRUE(c->send(request("GET", "/localapi/v0/start")));
  int ok = 0;
  for (auto& c : conns) {
    auto r = c->read(scaled(IO));
    if (r && r->status == 400) ++ok;
  }
  EXPECT_EQ(ok, N);
}

TEST_F(ApidAlone, RootPageAndHead) {
  auto r = suite_->call(request("GET", "/"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type"), "text/html; charset=utf-8");
  HttpConn c(suite_->socket());
  c.send(request("HEAD", "/"));
  auto h = c.readHead(scaled(IO));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->header("content-length"), std::to_string(r->body.size()));
  // No body follows a HEAD answer: the next response on the connection starts right away.
  c.send(request("GET", "/localapi/v0/nope"));
  auto next = c.read(scaled(IO));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 404);
}

TEST_F(ApidAlone, CurlTalksToIt) {
  if (access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "curl not installed";
  std::string cmd = "curl -s -o /dev/null -w '%{http_code}' --unix-socket " + suite_->socket() +
                    " http://local-tailscaled.sock/localapi/v0/nope";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char out[16] = {};
  size_t n = fread(out, 1, sizeof out - 1, p);
  pclose(p);
  EXPECT_EQ(std::string(out, n), "404");
  // curl's 2 MB upload: Expect: 100-continue, answered 413 without waiting for the body.
  std::string upload = "head -c 2000000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' "
                       "--unix-socket " + suite_->socket() +
                       " -X PATCH --data-binary @- -m 10 http://local-tailscaled.sock/localapi/v0/prefs";
  p = popen(upload.c_str(), "r");
  ASSERT_NE(p, nullptr);
  n = fread(out, 1, sizeof out - 1, p);
  pclose(p);
  EXPECT_EQ(std::string(out, n), "413");
}

TEST_F(ApidAlone, SigtermExitsCleanly) {
  EXPECT_TRUE(suite_->call(request("GET", "/localapi/v0/nope")));
  int status = suite_->apid().stop();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ApidStartup, WithoutInheritedSocketFailsWithClearMessage) {
  if (access((binDir() + "/apid").c_str(), X_OK) != 0) GTEST_SKIP() << "bin/apid not built";
  TempDir dir;
  mkdir((dir.path() + "/rt").c_str(), 0700);
  Process p({binDir() + "/apid", "--runtime-dir", dir.path() + "/rt", "--state-dir", dir.path()},
            -1, dir.path() + "/log");
  for (int i = 0; i < 500 && p.running(); ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_FALSE(p.running());
  int status = p.stop();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_NE(WEXITSTATUS(status), 0);
  std::string log = slurp(dir.path() + "/log");
  EXPECT_NE(log.find("LISTEN_FDS=1"), std::string::npos) << log;
}

}  // namespace
}  // namespace tnet::apid::testing
