// Helpers for ipnd's contract tests: the real ipnd binary as a child process, a READY socket,
// and an operator bus node that calls ipnd.localapi the way apid does.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "libs/bus/bus.h"
#include "libs/bus/bus_test_util.h"
#include "libs/ipn/go_json.h"
#include "schemas/common.capnp.h"
#include "schemas/ipnd.capnp.h"

namespace tnet::ipnd_test {

using namespace std::chrono_literals;
using bus::testing::runUntil;
using bus::testing::TempRuntime;

// Every executable is written to <build>/bin, so ipnd sits beside this test binary.
inline std::string ipndBinary() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return (self.parent_path() / "ipnd").string();
  const char* dir = std::getenv("TNET_BINARY_DIR");
  return std::string(dir ? dir : ".") + "/bin/ipnd";
}

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ~NotifySocket() { close(fd_); }
  bool waitReady(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, int(bus::testing::scaled(timeout).count())) != 1) return false;
    char buf[256];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 && std::string(buf, size_t(n)).find("READY=1") != std::string::npos;
  }

 private:
  int fd_ = -1;
};

class IpndProcess {
 public:
  IpndProcess(const std::string& runtime, const std::string& state, const std::string& notify,
              std::optional<std::string> config = std::nullopt) {
    int fds[2] = {-1, -1};
    if (config) {
      EXPECT_EQ(pipe(fds), 0);
    }
    pid_ = fork();
    if (pid_ == 0) {
      setenv("NOTIFY_SOCKET", notify.c_str(), 1);
      std::string bin = ipndBinary();
      std::vector<std::string> args = {"ipnd", "--runtime-dir", runtime, "--state-dir", state};
      if (config) {
        close(fds[1]);
        args.push_back("--config-fd");
        args.push_back(std::to_string(fds[0]));
      }
      // TNET_TEST_IPND_LOG_LEVEL=2 shows ipnd's trace while debugging a test.
      if (const char* level = std::getenv("TNET_TEST_IPND_LOG_LEVEL")) {
        args.push_back("--log-level");
        args.push_back(level);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    if (config) {
      close(fds[0]);
      EXPECT_EQ(write(fds[1], config->data(), config->size()), ssize_t(config->size()));
      close(fds[1]);
    }
  }
  ~IpndProcess() { terminate(); }
  pid_t pid() const { return pid_; }
  int terminate() {
    if (pid_ <= 0) return 0;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      usleep(10000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1000;
  }
  // Waits for exit (for start failures); returns the exit code.
  int waitExit() {
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      usleep(10000);
    }
    return -1000;
  }

 private:
  pid_t pid_ = -1;
};

struct Reply {
  uint16_t status = 0;
  std::string contentType;
  std::string body;
  uint64_t notifySeq = 0;
};

// Plays apid: an operator bus node calling ipnd.localapi.
class Apid {
 public:
  explicit Apid(const std::string& runtime) {
    auto b = bus::Bus::create(loop, bus::BusOptions{runtime, "operator"});
    EXPECT_TRUE(b);
    bus_ = std::move(*b);
  }
  Reply call(const std::string& method, const std::string& name, const std::string& body = "",
             const std::string& query = "", bool privileged = true) {
    std::optional<Result<Reply>> got;
    bus_->call(
        "ipnd", "ipnd.localapi",
        [&](capnp::AnyPointer::Builder p) {
          auto r = p.initAs<schema::LocalApiRequest>();
          r.setMethod(method);
          r.setPath("/localapi/v0/" + name);
          r.setQuery(query);
          r.setBody(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(body.data()), body.size()));
          r.setCallerUid(getuid());
          r.setCallerPid(uint32_t(getpid()));
          r.setCallerPrivileged(privileged);
        },
        bus::testing::scaled(3000ms),
        [&](Result<bus::Reply> r) {
          if (!r) {
            got = Result<Reply>(r.error());
            return;
          }
          auto rep = r->as<schema::LocalApiReply>();
          Reply out;
          out.status = rep.getStatus();
          out.contentType = rep.getContentType().cStr();
          out.body.assign(reinterpret_cast<const char*>(rep.getBody().begin()), rep.getBody().size());
          out.notifySeq = rep.getNotifySeq();
          got = Result<Reply>(std::move(out));
        });
    EXPECT_TRUE(runUntil(
        loop, [&] { return got.has_value(); }, 5000ms));
    if (!got || !*got) {
      ADD_FAILURE() << "ipnd.localapi failed: " << (got ? got->error().message : "no reply");
      return {};
    }
    return std::move(**got);
  }
  bus::Bus& bus() { return *bus_; }
  bus::Loop loop;

 private:
  std::unique_ptr<bus::Bus> bus_;
};

inline ipn::Json json(const std::string& s) {
  auto j = ipn::parseJson(s, true);
  EXPECT_TRUE(j) << s;
  return j ? *j : ipn::Json();
}
}  // namespace tnet::ipnd_test
