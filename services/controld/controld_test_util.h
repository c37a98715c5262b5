// Shared by controld's process-level tests: run the real controld binary, and act as the
// operator on its bus (retained controld.status / controld.netmap / controld.health, calls).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "libs/bus/bus.h"
#include "libs/bus/bus_test_util.h"
#include "libs/wire/keys.h"
#include "schemas/common.capnp.h"
#include "schemas/controld.capnp.h"
#include "schemas/netmap.capnp.h"

namespace tnet::controld::testing {

using namespace std::chrono_literals;
using bus::testing::runUntil;

inline std::string controldBinary() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "controld").string();
}

class ControldProcess {
 public:
  ControldProcess(const std::string& runtime, const std::string& state, const std::string& logFile,
                  std::vector<std::string> extra = {}) {
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 2);
      std::string bin = controldBinary();
      std::vector<std::string> args{"controld", "--runtime-dir", runtime, "--state-dir", state, "--log-level", "1"};
      for (auto& e : extra) args.push_back(e);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~ControldProcess() { stop(); }
  pid_t pid() const { return pid_; }
  int stop() {
    if (pid_ <= 0) return -1;
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

 private:
  pid_t pid_ = -1;
};

inline std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct StatusCopy {
  schema::ControlStatus::Phase phase = schema::ControlStatus::Phase::IDLE;
  std::string machinePublic, loggedInNodePublic, lastError, authUrl;
  uint64_t loginFinishedCount = 0;
  bool mapConnected = false;
};

struct NetmapCopy {
  uint64_t generation = 0;
  std::string selfKey;
  size_t peers = 0;
  std::vector<std::string> selfAddresses;
};

// The operator's view of controld: its retained events and calls.
struct Operator {
  Operator(bus::Loop& loop, const std::string& runtime) : loop(loop) {
    auto b = bus::Bus::create(loop, bus::BusOptions{runtime, "operator"});
    EXPECT_TRUE(b) << b.error().message;
    bus = std::move(*b);
    bus->subscribe("controld.status", [this](const bus::Event& ev) {
      auto s = ev.as<schema::ControlStatus>();
      StatusCopy c;
      c.phase = s.getPhase();
      c.machinePublic = s.getMachinePublic();
      c.loggedInNodePublic = s.getLoggedInNodePublic();
      c.lastError = s.getLastError();
      c.authUrl = s.getAuthUrl();
      c.loginFinishedCount = s.getLoginFinishedCount();
      c.mapConnected = s.getMapConnected();
      statuses.push_back(c);
    });
    bus->subscribe("controld.netmap", [this](const bus::Event& ev) {
      auto n = ev.as<schema::Netmap>();
      NetmapCopy c;
      c.generation = n.getGeneration();
      c.selfKey = n.getSelf().getKey();
      c.peers = n.getPeers().size();
      for (auto a : n.getSelf().getAddresses()) c.selfAddresses.emplace_back(a.cStr());
      netmap = c;
    });
    bus->subscribe("controld.health", [this](const bus::Event& ev) {
      auto h = ev.as<schema::Health>();
      health = h.getState();
      healthMessage = h.getMessage();
    });
  }

  Result<bus::Reply> call(const std::string& method, const bus::Filler& fill) {
    std::optional<Result<bus::Reply>> out;
    bus->call("controld", method, fill, 20000ms, [&](Result<bus::Reply> r) { out = std::move(r); });
    EXPECT_TRUE(runUntil(loop, [&] { return out.has_value(); }, 25000ms));
    return out ? std::move(*out) : Result<bus::Reply>(Error::failed("no reply"));
  }

  const StatusCopy& status() const { return statuses.back(); }

  bus::Loop& loop;
  std::unique_ptr<bus::Bus> bus;
  std::vector<StatusCopy> statuses;
  std::optional<NetmapCopy> netmap;
  std::optional<schema::Health::State> health;
  std::string healthMessage;
};

inline std::string newNodeKey() { return key::NodePrivate::generate().publicKey().toString(); }

inline void fillConfig(schema::ControlConfig::Builder c, uint64_t n, const std::string& url, const std::string& node,
                const std::string& disco) {
  c.initGeneration().setEpoch(1);
  c.getGeneration().setN(n);
  c.setControlUrl(url);
  c.setWantRunning(true);
  c.setNodePublic(node);
  c.setDiscoPublic(disco);
  std::string hi = R"({"OS":"linux","Hostname":"a"})";
  c.setHostinfoJson(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(hi.data()), hi.size()));
}

}  // namespace tnet::controld::testing
