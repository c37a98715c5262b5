// Contract tests of the real bin/apid: started as tailnetd starts it (the listening LocalAPI
// socket on fd 3 with LISTEN_FDS=1), driven with real HTTP/1.1 over the Unix socket. The first
// suite runs apid alone (every answer apid gives without ipnd, and 503 for the rest); the second
// adds the real bin/ipnd on the bus when it is built.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

// Under the sanitizer build a bug in the child shows up only in its log.
void expectCleanLog(const std::string& log) {
  for (const char* bad : {"Sanitizer", "runtime error:", "Assertion", "terminate called"}) {
    EXPECT_EQ(log.find(bad), std::string::npos) << "apid logged \"" << bad << "\":\n" << log;
  }
}

// apid (and optionally ipnd) in a scratch directory.
class Suite {
 public:
  explicit Suite(bool withIpnd, std::vector<std::string> apidExtra = {}) {
    runtime_ = dir_.path() + "/rt";
    state_ = dir_.path() + "/st";
    socket_ = dir_.path() + "/s";
    chmod(dir_.path().c_str(), 0755);  // the socket's directory: other uids must reach it
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
    std::vector<std::string> argv = {binDir() + "/apid",
                                     "--runtime-dir",
                                     runtime_,
                                     "--state-dir",
                                     state_ + "/apid",
                                     "--owner-uid",
                                     std::to_string(getuid()),
                                     "--ipnd-timeout-ms",
                                     withIpnd ? "5000" : "300",
                                     "--header-timeout-ms",
                                     std::to_string(scaled(milliseconds(500)).count())};
    argv.insert(argv.end(), apidExtra.begin(), apidExtra.end());
    apid_ = std::make_unique<Process>(argv, fd, dir_.path() + "/apid.log");
    close(fd);  // apid holds it now; clients queue in the backlog until it accepts
  }

  void startIpnd() {
    ipnd_ = std::make_unique<Process>(std::vector<std::string>{binDir() + "/ipnd", "--runtime-dir", runtime_,
                                                               "--state-dir", state_ + "/ipnd"},
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
    if (!suite_) return;
    suite_->apid().stop();  // sanitizer reports (leaks included) are written at exit
    expectCleanLog(suite_->apidLog());
    if (HasFailure()) std::fprintf(stderr, "apid log:\n%s\n", suite_->apidLog().c_str());
  }
  std::unique_ptr<Suite> suite_;
};

TEST_F(ApidAlone, UnknownPathIs404WithGoHeaders) {
  auto r = suite_->call(request("GET", "/localapi/v0/no-such-thing"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "404 page not found\n");
  EXPECT_EQ(r->header("tailscale-version"), TNET_VERSION);
  EXPECT_EQ(r->header("tailscale-cap"), std::to_string(ipn::CAPABILITY_VERSION));
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
  std::string head =
      "PATCH /localapi/v0/prefs HTTP/1.1\r\nHost: local-tailscaled.sock\r\n"
      "Content-Length: " +
      std::to_string(MAX_BODY_BYTES + 1) + "\r\nExpect: 100-continue\r\n\r\n";
  auto r = suite_->call(head);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(r->closed);
}

TEST_F(ApidAlone, OversizedChunkedBodyIs413) {
  HttpConn c(suite_->socket());
  c.send(
      "PATCH /localapi/v0/prefs HTTP/1.1\r\nHost: local-tailscaled.sock\r\n"
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

TEST_F(ApidAlone, Http10WithoutHostIsServedAndClosed) {
  auto r = suite_->call("GET /localapi/v0/nope HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "404 page not found\n");
  HttpConn c(suite_->socket());
  c.send("GET /localapi/v0/nope HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(c.read(scaled(IO)));
  EXPECT_TRUE(c.waitClosed(scaled(IO)));  // no keep-alive asked for
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

long pssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long value = -1;
  std::string unit;
  while (f >> key) {
    if (key == "Pss:") {
      f >> value;
      return value;
    }
  }
  return -1;
}

TEST_F(ApidAlone, MeasureMemory) {
  ASSERT_TRUE(suite_->call(request("GET", "/localapi/v0/nope")));
  long idle = pssKb(suite_->apid().pid());
  std::vector<std::unique_ptr<HttpConn>> conns;
  for (int i = 0; i < 400; ++i) {
    conns.push_back(std::make_unique<HttpConn>(suite_->socket()));
    conns.back()->send(request("GET", "/localapi/v0/nope"));
  }
  for (auto& c : conns) ASSERT_TRUE(c->read(scaled(IO)));
  long busy = pssKb(suite_->apid().pid());
  std::fprintf(stderr, "[measure] apid PSS idle %ld KiB, with 400 open keep-alive connections %ld KiB\n",
               idle, busy);
  EXPECT_GT(idle, 0);
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
  std::string upload =
      "head -c 2000000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' "
      "--unix-socket " +
      suite_->socket() + " -X PATCH --data-binary @- -m 10 http://local-tailscaled.sock/localapi/v0/prefs";
  p = popen(upload.c_str(), "r");
  ASSERT_NE(p, nullptr);
  n = fread(out, 1, sizeof out - 1, p);
  pclose(p);
  EXPECT_EQ(std::string(out, n), "413");
}

TEST_F(ApidAlone, CurlExpectContinueGetsTheBodyThrough) {
  if (access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "curl not installed";
  // Over 1 KiB curl sends Expect: 100-continue and waits up to 1 s for the interim answer. The
  // body is valid JSON, so the answer is ipnd's absence (503), not a 400.
  std::string json = R"({"AuthKey":")" + std::string(3000, 'k') + R"("})";
  std::string cmd = "printf '%s' '" + json +
                    "' | curl -s -o /dev/null -w '%{http_code} %{time_total}' "
                    "--unix-socket " +
                    suite_->socket() +
                    " -X POST --data-binary @- -m 10 http://local-tailscaled.sock/localapi/v0/start";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char out[64] = {};
  size_t n = fread(out, 1, sizeof out - 1, p);
  pclose(p);
  std::string got(out, n);
  EXPECT_EQ(got.substr(0, 4), "503 ") << got;
  double seconds = std::atof(got.c_str() + 4);
  std::fprintf(stderr, "[measure] curl 3 KB POST with Expect: 100-continue answered in %.3f s\n", seconds);
  if (scaled(milliseconds(1)).count() == 1) {
    EXPECT_LT(seconds, 0.9) << "100 Continue not sent?";
  }
}

TEST_F(ApidAlone, ConnectionLimitRefusesTheExcessAndRecovers) {
  std::vector<std::unique_ptr<HttpConn>> conns;
  for (size_t i = 0; i < MAX_CONNECTIONS + 20; ++i) {
    conns.push_back(std::make_unique<HttpConn>(suite_->socket()));
  }
  // The ones over the limit are closed at once, before any header timeout.
  int refused = 0;
  for (size_t i = MAX_CONNECTIONS; i < conns.size(); ++i) {
    if (conns[i]->waitClosed(milliseconds(200))) ++refused;
  }
  EXPECT_GE(refused, 15);
  conns.clear();
  // Once they are gone, service resumes.
  std::optional<HttpResponse> r;
  for (int i = 0; i < 50 && !(r && r->status == 404); ++i) {
    r = suite_->call(request("GET", "/localapi/v0/nope"));
    if (!(r && r->status == 404)) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
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
  Process p({binDir() + "/apid", "--runtime-dir", dir.path() + "/rt", "--state-dir", dir.path()}, -1,
            dir.path() + "/log");
  for (int i = 0; i < 500 && p.running(); ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_FALSE(p.running());
  int status = p.stop();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_NE(WEXITSTATUS(status), 0);
  std::string log = slurp(dir.path() + "/log");
  EXPECT_NE(log.find("LISTEN_FDS=1"), std::string::npos) << log;
}

// ---- apid + the real ipnd on the bus ---------------------------------------------------------

class ApidWithIpnd : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* b : {"/apid", "/ipnd"}) {
      if (access((binDir() + b).c_str(), X_OK) != 0) GTEST_SKIP() << "bin" << b << " not built";
    }
    suite_ = std::make_unique<Suite>(true);
    ASSERT_EQ(suite_->error(), "");
    // Ready when a forwarded call gets ipnd's answer (the bus connects asynchronously).
    auto deadline = std::chrono::steady_clock::now() + scaled(milliseconds(15000));
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = suite_->call(request("GET", "/localapi/v0/status"));
      if (r && r->status == 200) return;
      std::this_thread::sleep_for(milliseconds(100));
    }
    FAIL() << "ipnd never answered through apid";
  }
  void TearDown() override {
    if (!suite_) return;
    suite_->apid().stop();
    expectCleanLog(suite_->apidLog());
    if (HasFailure()) {
      std::fprintf(stderr, "apid log:\n%s\nipnd log:\n%s\n", suite_->apidLog().c_str(),
                   suite_->ipndLog().c_str());
    }
  }

  std::optional<HttpResponse> patchPrefs(const std::string& json) {
    return suite_->call(request("PATCH", "/localapi/v0/prefs", json));
  }

  std::unique_ptr<Suite> suite_;
};

TEST_F(ApidWithIpnd, MeasureRoundTrips) {
  HttpConn c(suite_->socket());
  auto time = [&](const std::string& raw, int n) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE(c.send(raw));
      auto r = c.read(scaled(IO));
      EXPECT_TRUE(r && r->status < 500);
    }
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
               .count() /
           n;
  };
  long local = time(request("GET", "/localapi/v0/nope"), 500);
  long status = time(request("GET", "/localapi/v0/status"), 200);
  long patch = time(request("PATCH", "/localapi/v0/prefs", R"({"ShieldsUp":false,"ShieldsUpSet":true})"), 50);
  std::fprintf(stderr,
               "[measure] keep-alive round trip: apid-only 404 %ld us, GET status via ipnd %ld us, PATCH "
               "prefs via ipnd %ld us\n",
               local, status, patch);
}

TEST_F(ApidWithIpnd, StatusAndPrefsComeFromIpnd) {
  auto st = suite_->call(request("GET", "/localapi/v0/status"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, 200);
  EXPECT_EQ(st->header("content-type"), "application/json");
  EXPECT_EQ(st->header("tailscale-version"), TNET_VERSION);
  EXPECT_NE(st->body.find("\"BackendState\""), std::string::npos) << st->body;
  auto prefs = suite_->call(request("GET", "/localapi/v0/prefs"));
  ASSERT_TRUE(prefs);
  EXPECT_EQ(prefs->status, 200);
  EXPECT_NE(prefs->body.find("\"WantRunning\""), std::string::npos) << prefs->body;
}

TEST_F(ApidWithIpnd, OwnerMayPatchPrefs) {
  auto r = patchPrefs(R"({"Hostname":"apid-contract","HostnameSet":true})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_NE(r->body.find("apid-contract"), std::string::npos) << r->body;
  auto again = suite_->call(request("GET", "/localapi/v0/prefs"));
  ASSERT_TRUE(again);
  EXPECT_NE(again->body.find("apid-contract"), std::string::npos);
}

TEST_F(ApidWithIpnd, WatchStreamsInitialNotifyThenChanges) {
  HttpConn w(suite_->socket());
  ASSERT_TRUE(w.send(request("GET", "/localapi/v0/watch-ipn-bus?mask=6")));  // state + prefs
  auto head = w.readHead(scaled(IO));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-type"), "application/json");
  EXPECT_EQ(head->header("transfer-encoding"), "chunked");
  auto first = w.readChunk(scaled(IO));
  ASSERT_TRUE(first);
  EXPECT_NE(first->find("\"SessionID\""), std::string::npos) << *first;
  EXPECT_NE(first->find("\"Prefs\""), std::string::npos) << *first;
  EXPECT_EQ(first->back(), '\n');
  ASSERT_TRUE(patchPrefs(R"({"Hostname":"watched-change","HostnameSet":true})"));
  bool seen = false;
  for (int i = 0; i < 10 && !seen; ++i) {
    auto line = w.readChunk(scaled(IO));
    ASSERT_TRUE(line) << "stream ended before the change arrived";
    EXPECT_EQ(std::count(line->begin(), line->end(), '\n'), 1) << "one Notify per chunk";
    seen = line->find("watched-change") != std::string::npos;
  }
  EXPECT_TRUE(seen);
}

TEST_F(ApidWithIpnd, Http10WatchIsRawLinesUntilClose) {
  HttpConn w(suite_->socket());
  ASSERT_TRUE(w.send("GET /localapi/v0/watch-ipn-bus?mask=4 HTTP/1.0\r\n\r\n"));
  auto head = w.readHead(scaled(IO));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("transfer-encoding"), "<absent>");
  EXPECT_TRUE(w.waitFor("\"Prefs\"", scaled(IO)));  // the initial Notify, unframed
  ASSERT_TRUE(patchPrefs(R"({"Hostname":"http10","HostnameSet":true})"));
  EXPECT_TRUE(w.waitFor("http10", scaled(IO)));
  EXPECT_FALSE(w.waitFor("\r\n", milliseconds(100)));  // no chunk framing anywhere
}

TEST_F(ApidWithIpnd, MaskZeroWatchSendsHeadersAtOnce) {
  HttpConn w(suite_->socket());
  ASSERT_TRUE(w.send(request("GET", "/localapi/v0/watch-ipn-bus?mask=0")));
  auto head = w.readHead(scaled(milliseconds(2000)));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
}

TEST_F(ApidWithIpnd, WatchersAreIndependent) {
  // Several watchers, and ordinary requests keep working while they stream.
  std::vector<std::unique_ptr<HttpConn>> ws;
  for (int i = 0; i < 8; ++i) {
    ws.push_back(std::make_unique<HttpConn>(suite_->socket()));
    ASSERT_TRUE(ws.back()->send(request("GET", "/localapi/v0/watch-ipn-bus?mask=0")));
    ASSERT_TRUE(ws.back()->readHead(scaled(IO)));
  }
  ASSERT_TRUE(patchPrefs(R"({"Hostname":"fanout","HostnameSet":true})"));
  for (auto& w : ws) {
    bool seen = false;
    for (int i = 0; i < 5 && !seen; ++i) {
      auto line = w->readChunk(scaled(IO));
      ASSERT_TRUE(line);
      seen = line->find("fanout") != std::string::npos;
    }
    EXPECT_TRUE(seen);
  }
}

TEST_F(ApidWithIpnd, MeasureFanOut) {
  constexpr int WATCHERS = 50;
  constexpr int EVENTS = 60;
  std::vector<std::unique_ptr<HttpConn>> ws;
  for (int i = 0; i < WATCHERS; ++i) {
    ws.push_back(std::make_unique<HttpConn>(suite_->socket()));
    ASSERT_TRUE(ws.back()->send(request("GET", "/localapi/v0/watch-ipn-bus?mask=0")));
    ASSERT_TRUE(ws.back()->readHead(scaled(IO)));
  }
  HttpConn writer(suite_->socket());
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < EVENTS; ++i) {
    ASSERT_TRUE(writer.send(request("PATCH", "/localapi/v0/prefs",
                                    R"({"Hostname":"fan)" + std::to_string(i) + R"(","HostnameSet":true})")));
    auto r = writer.read(scaled(IO));
    ASSERT_TRUE(r && r->status == 200);
  }
  std::string last = "\"fan" + std::to_string(EVENTS - 1) + "\"";
  for (auto& w : ws) EXPECT_TRUE(w->waitFor(last, scaled(IO)));
  auto ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "[measure] %d prefs changes delivered to %d watchers in %lld ms\n", EVENTS, WATCHERS,
               static_cast<long long>(ms));
}

TEST_F(ApidWithIpnd, WatcherThatFallsBehindIsCutOffLikeGo) {
  HttpConn w(suite_->socket());
  ASSERT_TRUE(w.send(request("GET", "/localapi/v0/watch-ipn-bus?mask=0")));
  ASSERT_TRUE(w.readHead(scaled(IO)));
  // The watcher reads nothing while prefs change many times: first the socket buffers fill,
  // then apid's 128-message queue, and apid gives up on it as Go does.
  HttpConn writer(suite_->socket());
  int patches = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (; patches < 600; ++patches) {
    std::string host = "h" + std::to_string(patches) + std::string(200, 'x');
    ASSERT_TRUE(writer.send(
        request("PATCH", "/localapi/v0/prefs", R"({"Hostname":")" + host + R"(","HostnameSet":true})")));
    auto r = writer.read(scaled(IO));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  std::fprintf(stderr, "[measure] %d PATCH prefs round trips in %lld ms\n", patches,
               static_cast<long long>(std::chrono::duration_cast<milliseconds>(elapsed).count()));
  // Drain: ordinary Notify lines, then Go's final error, then the end of the stream.
  std::string last;
  int lines = 0;
  for (;;) {
    auto chunk = w.readChunk(scaled(IO));
    ASSERT_TRUE(chunk) << "stream stalled after " << lines << " lines";
    if (chunk->empty()) break;
    last = *chunk;
    ++lines;
  }
  EXPECT_LT(lines, patches);
  EXPECT_NE(last.find("IPN bus consumer fell behind; closing watch"), std::string::npos) << last;
  EXPECT_NE(last.find("\"ErrMessage\""), std::string::npos);
  // Other clients are unaffected.
  auto st = suite_->call(request("GET", "/localapi/v0/status"));
  ASSERT_TRUE(st);
  EXPECT_EQ(st->status, 200);
}

TEST_F(ApidWithIpnd, IpndRestartEndsWatchStreams) {
  HttpConn w(suite_->socket());
  ASSERT_TRUE(w.send(request("GET", "/localapi/v0/watch-ipn-bus?mask=0")));
  ASSERT_TRUE(w.readHead(scaled(IO)));
  suite_->restartIpnd();
  // The new epoch is seen at ipnd's next hello (1 s); the stream then ends with its last chunk.
  auto chunk = w.readChunk(scaled(milliseconds(10000)));
  ASSERT_TRUE(chunk);
  EXPECT_EQ(*chunk, "");
  EXPECT_TRUE(w.waitClosed(scaled(IO)));
}

TEST_F(ApidWithIpnd, NonOwnerReadsButCannotWrite) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  // A child drops to nobody (not root, not --owner-uid, not the operator) and asks.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    auto read = roundTrip(suite_->socket(), request("GET", "/localapi/v0/prefs"), IO);
    auto write =
        roundTrip(suite_->socket(),
                  request("PATCH", "/localapi/v0/prefs", R"({"ShieldsUp":true,"ShieldsUpSet":true})"), IO);
    // Go checks permission before method and body: 403 here too, not 400.
    auto wrongMethod = roundTrip(suite_->socket(), request("GET", "/localapi/v0/start"), IO);
    auto badJson = roundTrip(suite_->socket(), request("PATCH", "/localapi/v0/prefs", "{"), IO);
    std::string out =
        std::to_string(read ? read->status : 0) + " " + std::to_string(write ? write->status : 0) + " " +
        std::to_string(wrongMethod ? wrongMethod->status : 0) + " " +
        std::to_string(badJson ? badJson->status : 0) + " " + (write ? write->body : std::string());
    (void)!::write(pipefd[1], out.data(), out.size());
    _exit(0);
  }
  close(pipefd[1]);
  char buf[512] = {};
  ssize_t n = ::read(pipefd[0], buf, sizeof buf - 1);
  close(pipefd[0]);
  int status;
  waitpid(pid, &status, 0);
  std::string got(buf, n > 0 ? static_cast<size_t>(n) : 0);
  EXPECT_EQ(got, "200 403 403 403 prefs write access denied\n") << got;
}

}  // namespace
}  // namespace tnet::apid::testing
