// A small tailnet for integration tests: testcontrol (and testderp when built) on loopback, and
// any number of suites that join it with `tnet up`. Every process dies with the fixture.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness/harness.h"

namespace tnet::tailnet_test {

using namespace tnet::harness;

struct Node {
  std::string name;
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<Suite> suite;

  ProcessResult tnet(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 30s) const;
  // GET /localapi/v0/status as JSON (discarded value on failure).
  nlohmann::json status() const;
  std::string backendState() const;
  std::string publicKey() const;  // Self.PublicKey
};

class Tailnet {
 public:
  // "" when everything needed is built, else the reason to skip.
  static std::string missing();

  Tailnet();
  ~Tailnet();

  // Starts testderp (when built) and testcontrol pointing at it.
  Result<void> start(std::vector<std::string> controlArgs = {});
  Fixture& control() { return *control_; }
  Fixture* derp() { return derp_.get(); }
  std::string controlUrl() const { return control_->url(); }

  // POST /admin/keys: a pre-auth key.
  Result<std::string> newAuthKey(bool reusable = true, bool ephemeral = false);

  // A fresh suite (own state dir), started and answering the LocalAPI.
  Result<Node*> addNode(const std::string& name);
  // Restarts a node's suite on the same state dir.
  Result<void> restartNode(Node& node);
  // `tnet up --login-server <control> --auth-key <key> --hostname <name>` and waits for it.
  ProcessResult up(Node& node, const std::string& authKey, std::vector<std::string> extra = {});

  // Logs of every process, for a failing test.
  std::string logs() const;

 private:
  std::unique_ptr<TempDir> root_;
  std::unique_ptr<Fixture> derp_;
  std::unique_ptr<Fixture> control_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

// Whether `status` lists a peer whose HostName is `host`.
bool hasPeer(const nlohmann::json& status, const std::string& host);

}  // namespace tnet::tailnet_test
