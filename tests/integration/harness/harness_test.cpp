#include "tests/integration/harness/harness.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

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

}  // namespace
}  // namespace tnet::harness
