#include "tests/integration/tailnet/tailnet_fixture.h"

#include <sys/stat.h>

namespace tnet::tailnet_test {

ProcessResult Node::tnet(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  RunOptions opts;
  opts.timeout = timeout;
  return runTnet(suite->socket(), args, opts);
}

nlohmann::json Node::status() const {
  auto r = suite->get("/localapi/v0/status");
  if (!r || r->status != 200) return nlohmann::json(nlohmann::json::value_t::discarded);
  return r->json();
}

std::string Node::backendState() const {
  auto s = status();
  if (s.is_discarded() || !s.contains("BackendState")) return "";
  return s["BackendState"].get<std::string>();
}

std::string Node::publicKey() const {
  auto s = status();
  if (s.is_discarded() || !s.contains("Self") || !s["Self"].contains("PublicKey")) return "";
  return s["Self"]["PublicKey"].get<std::string>();
}

std::string Tailnet::missing() {
  auto names = suiteBinaries(true);
  names.push_back("testcontrol");
  return missingBinaries(names);
}

Tailnet::Tailnet() : root_(std::make_unique<TempDir>("tnet-tailnet", 0755)) {}

Tailnet::~Tailnet() {
  nodes_.clear();  // suites first: they talk to the fixtures
  control_.reset();
  derp_.reset();
}

Result<void> Tailnet::start(std::vector<std::string> controlArgs) {
  std::vector<std::string> args = {"--listen", "127.0.0.1:0"};
  if (findBinary("testderp")) {
    FixtureOptions d;
    d.args = {"--listen", "127.0.0.1:0", "--stun-port", "0"};
    derp_ = std::make_unique<Fixture>("testderp", d);
    TNET_TRY_VOID(derp_->start());
    args.insert(args.end(), {"--derp-url", derp_->url()});
    if (derp_->info().contains("stunPort") && derp_->info()["stunPort"].get<int>() > 0) {
      args.insert(args.end(), {"--derp-stun-port", std::to_string(derp_->info()["stunPort"].get<int>())});
    }
  }
  args.insert(args.end(), controlArgs.begin(), controlArgs.end());
  FixtureOptions c;
  c.args = args;
  control_ = std::make_unique<Fixture>("testcontrol", c);
  return control_->start();
}

Result<std::string> Tailnet::newAuthKey(bool reusable, bool ephemeral) {
  nlohmann::json body = {{"reusable", reusable}, {"ephemeral", ephemeral}};
  TNET_TRY(auto r, httpRequest("127.0.0.1", control_->port(), "POST", "/admin/keys", body.dump()));
  if (r.status != 200) return Error::failed("POST /admin/keys: " + std::to_string(r.status) + " " + r.body);
  auto j = r.json();
  if (j.is_discarded() || !j.contains("key")) return Error::failed("POST /admin/keys: " + r.body);
  return j["key"].get<std::string>();
}

Result<Node*> Tailnet::addNode(const std::string& name) {
  auto node = std::make_unique<Node>();
  node->name = name;
  node->dir = std::make_unique<TempDir>("tnet-node-" + name, 0755);
  SuiteOptions o;
  o.stateDir = *node->dir / "state";
  o.runtimeDir = *node->dir / "run";
  o.env = {{"TS_DEBUG_USE_DERP_HTTP", "1"}};  // testderp speaks plain HTTP, as in Go's test setups
  node->suite = std::make_unique<Suite>(o);
  TNET_TRY_VOID(node->suite->start());
  TNET_TRY_VOID(node->suite->waitReady(20s));
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

Result<void> Tailnet::restartNode(Node& node) {
  SuiteOptions o;
  o.stateDir = *node.dir / "state";
  o.runtimeDir = *node.dir / "run";
  o.env = {{"TS_DEBUG_USE_DERP_HTTP", "1"}};
  if (node.suite) (void)node.suite->stop(10s);
  node.suite = std::make_unique<Suite>(o);
  TNET_TRY_VOID(node.suite->start());
  return node.suite->waitReady(20s);
}

ProcessResult Tailnet::up(Node& node, const std::string& authKey, std::vector<std::string> extra) {
  std::vector<std::string> args = {"up", "--login-server", controlUrl(), "--hostname", node.name,
                                   "--timeout", "30s"};
  if (!authKey.empty()) args.insert(args.end(), {"--auth-key", authKey});
  args.insert(args.end(), extra.begin(), extra.end());
  return node.tnet(args, 40s);
}

std::string Tailnet::logs() const {
  std::string out;
  if (control_) out += "--- testcontrol ---\n" + control_->output();
  if (derp_) out += "--- testderp ---\n" + derp_->output();
  for (const auto& n : nodes_) out += "--- suite " + n->name + " ---\n" + n->suite->stderrText();
  return out;
}

bool hasPeer(const nlohmann::json& status, const std::string& host) {
  if (status.is_discarded() || !status.contains("Peer") || !status["Peer"].is_object()) return false;
  for (const auto& [k, p] : status["Peer"].items()) {
    if (p.contains("HostName") && p["HostName"] == host) return true;
  }
  return false;
}

}  // namespace tnet::tailnet_test
