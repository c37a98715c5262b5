#include "tests/integration/harness/harness.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <thread>

namespace tnet::harness {
namespace {

TEST(Harness, TempDirIsRemovedWithContents) {
  std::string path;
  {
    TempDir dir("tnet-harness", 0755);
    path = dir.path();
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0755u);
    std::filesystem::create_directories(dir / "a/b");
    FILE* f = fopen((dir / "a/b/file").c_str(), "w");
    fclose(f);
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST(Harness, RunProcessCapturesOutputAndExitCode) {
  auto r = runProcess({"sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.exitCode, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  RunOptions o;
  o.env = {{"TNET_HARNESS_VAR", "x1"}};
  EXPECT_EQ(runProcess({"sh", "-c", "printf %s \"$TNET_HARNESS_VAR\""}, o).out, "x1");
}

TEST(Harness, RunProcessKillsOnTimeout) {
  RunOptions o;
  o.timeout = std::chrono::milliseconds(200);
  auto began = std::chrono::steady_clock::now();
  auto r = runProcess({"sleep", "30"}, o);
  EXPECT_TRUE(r.timedOut);
  EXPECT_EQ(r.exitCode, -1);
  EXPECT_LT(std::chrono::steady_clock::now() - began, scaled(5s));
}

TEST(Harness, LocalApiParsesChunkedResponsesAndReportsRefusal) {
  TempDir dir("tnet-harness");
  std::string path = dir / "s.sock";
  int srv = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(srv, 4), 0);
  std::string seen;
  std::thread server([&] {
    int c = accept(srv, nullptr, nullptr);
    char buf[1024];
    ssize_t n = read(c, buf, sizeof(buf));
    if (n > 0) seen.assign(buf, static_cast<size_t>(n));
    const char resp[] =
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        "7\r\n{\"a\":1,\r\n6\r\n\"b\":2}\r\n0\r\n\r\n";
    ssize_t ignored = write(c, resp, sizeof(resp) - 1);
    (void)ignored;
    close(c);
  });
  auto r = localApi(path, "PATCH", "/localapi/v0/prefs", "{}");
  server.join();
  close(srv);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_EQ(r->json()["b"], 2);
  EXPECT_NE(seen.find("PATCH /localapi/v0/prefs HTTP/1.1\r\nHost: local-tailscaled.sock\r\n"),
            std::string::npos);
  EXPECT_NE(seen.find("Content-Length: 2\r\n"), std::string::npos);
  EXPECT_FALSE(localApi(path, "GET", "/x"));  // nobody listens any more
  EXPECT_FALSE(socketAccepts(path));
}

TEST(Harness, FindsChildProcessesByName) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execlp("sleep", "sleep", "5", nullptr);
    _exit(127);
  }
  bool found = waitUntil([&] { return childProcesses(getpid())[pid] == "sleep"; }, 2s);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_TRUE(found);
}

TEST(Harness, NetworkNamespaceIsCreatedAndRemoved) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for ip netns";
  if (runProcess({"ip", "-V"}).exitCode != 0) GTEST_SKIP() << "iproute2 not installed";
  std::string name;
  {
    auto ns = NetNamespace::create();
    ASSERT_TRUE(ns) << ns.error().message;
    name = ns->name();
    auto links = runProcess(ns->exec({"ip", "-o", "link"}));
    EXPECT_EQ(links.exitCode, 0) << links.err;
    EXPECT_NE(links.out.find("lo:"), std::string::npos);
    EXPECT_EQ(links.out.find("eth"), std::string::npos);
  }
  EXPECT_EQ(runProcess({"ip", "netns", "list"}).out.find(name), std::string::npos);
}

// A one-association SOCKS5 UDP relay for IPv4 (RFC 1928 §7), enough to drive tnet-test-udp here
// without a suite; the tailnet tests run it against netstackd's real proxy.
class MiniSocksUdpRelay {
 public:
  MiniSocksUdpRelay() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listener_, 4);
    socklen_t len = sizeof a;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~MiniSocksUdpRelay() {
    stop_ = true;
    thread_.join();
    close(listener_);
  }
  uint16_t port() const { return port_; }

 private:
  void run() {
    pollfd p{listener_, POLLIN, 0};
    while (!stop_ && poll(&p, 1, 50) <= 0) {
    }
    if (stop_) return;
    int c = accept(listener_, nullptr, nullptr);
    uint8_t buf[2048];
    if (recv(c, buf, 3, MSG_WAITALL) != 3) return (void)close(c);
    send(c, "\x05\x00", 2, 0);
    if (recv(c, buf, 10, MSG_WAITALL) != 10 || buf[1] != 0x03) return (void)close(c);
    int relay = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int out = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in r{};
    r.sin_family = AF_INET;
    r.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(relay, reinterpret_cast<sockaddr*>(&r), sizeof r);
    socklen_t len = sizeof r;
    getsockname(relay, reinterpret_cast<sockaddr*>(&r), &len);
    uint8_t reply[10] = {0x05, 0x00, 0x00, 0x01};
    std::memcpy(reply + 4, &r.sin_addr, 4);
    std::memcpy(reply + 8, &r.sin_port, 2);
    send(c, reply, sizeof reply, 0);
    sockaddr_in client{};
    socklen_t clientLen = sizeof client;
    while (!stop_) {
      pollfd q[2] = {{relay, POLLIN, 0}, {out, POLLIN, 0}};
      if (poll(q, 2, 50) <= 0) continue;
      if (q[0].revents & POLLIN) {  // client → target: strip the header (IPv4 only here)
        ssize_t n = recvfrom(relay, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&client), &clientLen);
        if (n < 10 || buf[3] != 0x01) continue;
        sockaddr_in to{};
        to.sin_family = AF_INET;
        std::memcpy(&to.sin_addr, buf + 4, 4);
        std::memcpy(&to.sin_port, buf + 8, 2);
        sendto(out, buf + 10, size_t(n - 10), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      }
      if (q[1].revents & POLLIN) {  // target → client: add the header
        sockaddr_in from{};
        socklen_t fl = sizeof from;
        uint8_t in[1024];
        ssize_t n = recvfrom(out, in, sizeof in, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n < 0) continue;
        uint8_t d[2048] = {0, 0, 0, 0x01};
        std::memcpy(d + 4, &from.sin_addr, 4);
        std::memcpy(d + 8, &from.sin_port, 2);
        std::memcpy(d + 10, in, size_t(n));
        sendto(relay, d, size_t(n) + 10, 0, reinterpret_cast<sockaddr*>(&client), clientLen);
      }
    }
    close(relay);
    close(out);
    close(c);
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(Harness, TestHttpdUdpEchoAndTheUdpClient) {
  auto missing = missingBinaries({"tnet-test-httpd", "tnet-test-udp"});
  if (!missing.empty()) GTEST_SKIP() << missing;
  FixtureOptions o;
  o.args = {"--listen", "127.0.0.1:0", "--name", "h", "--udp-echo", "0"};
  Fixture httpd("tnet-test-httpd", o);
  ASSERT_TRUE(httpd.start());
  // With --udp-echo the port file is JSON: the TCP port and the UDP one.
  ASSERT_TRUE(httpd.info().contains("udpPort")) << httpd.info().dump();
  uint16_t udpPort = httpd.info()["udpPort"].get<uint16_t>();
  ASSERT_GT(udpPort, 0);
  auto page = httpRequest("127.0.0.1", httpd.port(), "GET", "/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->body, "hello from h\n");
  std::string target = "127.0.0.1:" + std::to_string(udpPort);

  std::string udp = *findBinary("tnet-test-udp");
  {
    MiniSocksUdpRelay relay;
    auto r = runProcess(
        {udp, "--socks5", "127.0.0.1:" + std::to_string(relay.port()), "--to", target, "--message", "hi"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.out, "h: hi\n");
    EXPECT_NE(r.err.find("reply from " + target), std::string::npos) << r.err;
  }
  {
    // Nothing answers on the target port: silence is exit 1, not a proxy error.
    int quiet = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(quiet, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(quiet, reinterpret_cast<sockaddr*>(&a), &len);
    MiniSocksUdpRelay relay;
    auto r = runProcess({udp, "--socks5", "127.0.0.1:" + std::to_string(relay.port()), "--to",
                         "127.0.0.1:" + std::to_string(ntohs(a.sin_port)), "--timeout-ms", "400"});
    close(quiet);
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("no reply from 127.0.0.1:"), std::string::npos) << r.err;
  }
  // No proxy, bad flags: exit 2 with the reason.
  auto noProxy = runProcess({udp, "--socks5", "127.0.0.1:1", "--to", target});
  EXPECT_EQ(noProxy.exitCode, 2);
  EXPECT_NE(noProxy.err.find("cannot connect to the SOCKS5 proxy"), std::string::npos) << noProxy.err;
  EXPECT_EQ(runProcess({udp, "--socks5", "127.0.0.1:1", "--to", "nowhere"}).exitCode, 2);
  EXPECT_EQ(runProcess({udp, "--bogus", "x"}).exitCode, 2);
  EXPECT_EQ(runProcess({udp, "--socks5"}).exitCode, 2);
}

}  // namespace
}  // namespace tnet::harness
