#include "tests/integration/tailnet/topology.h"

#include <unistd.h>

namespace tnet::tailnet_test {
namespace {

Result<void> must(const ProcessResult& r, const std::string& what) {
  if (r.exitCode == 0) return {};
  return Error::failed(what + " failed: " + r.out + r.err);
}

bool have(const std::string& tool) {
  return runProcess({"sh", "-c", "command -v " + tool}).exitCode == 0;
}

}  // namespace

std::string Topology::unavailable() {
  if (geteuid() != 0) return "needs root to create network namespaces (CI runs as root)";
  if (!have("ip")) return "needs iproute2's ip";
  if (!have("nft")) return "needs nftables' nft";
  return "";
}

ProcessResult Topology::run(const NetNamespace& ns, const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout) {
  RunOptions o;
  o.timeout = timeout;
  return runProcess(ns.exec(argv), o);
}

Result<std::unique_ptr<Topology>> Topology::create() {
  std::unique_ptr<Topology> t(new Topology());
  for (auto* slot : {&t->hub_, &t->a_, &t->b_}) {
    TNET_TRY(auto ns, NetNamespace::create());
    *slot = std::make_unique<NetNamespace>(std::move(ns));
  }
  // Interface names are per namespace, so fixed names cannot collide with another test's.
  struct Link {
    const NetNamespace* node;
    std::string hubIf, nodeIf, hubAddr, nodeAddr;
  };
  std::string tag = std::to_string(getpid() % 100000);
  std::vector<Link> links = {{t->a_.get(), "ha" + tag, "na" + tag, "10.99.1.1", "10.99.1.2"},
                             {t->b_.get(), "hb" + tag, "nb" + tag, "10.99.2.1", "10.99.2.2"}};
  for (const auto* ns : {t->hub_.get(), t->a_.get(), t->b_.get()}) {
    TNET_TRY_VOID(must(run(*ns, {"ip", "link", "set", "lo", "up"}), "lo up"));
  }
  for (const auto& l : links) {
    // Created in the hub, then one end moved into the node's namespace.
    TNET_TRY_VOID(must(run(*t->hub_, {"ip", "link", "add", l.hubIf, "type", "veth", "peer", "name", l.nodeIf}),
                       "veth " + l.hubIf));
    TNET_TRY_VOID(must(run(*t->hub_, {"ip", "link", "set", l.nodeIf, "netns", l.node->name()}), "move veth"));
    TNET_TRY_VOID(must(run(*t->hub_, {"ip", "addr", "add", l.hubAddr + "/24", "dev", l.hubIf}), "hub addr"));
    TNET_TRY_VOID(must(run(*t->hub_, {"ip", "link", "set", l.hubIf, "up"}), "hub link up"));
    TNET_TRY_VOID(must(run(*l.node, {"ip", "addr", "add", l.nodeAddr + "/24", "dev", l.nodeIf}), "node addr"));
    TNET_TRY_VOID(must(run(*l.node, {"ip", "link", "set", l.nodeIf, "up"}), "node link up"));
    TNET_TRY_VOID(must(run(*l.node, {"ip", "route", "add", "default", "via", l.hubAddr}), "default route"));
  }
  // Forwarding inside the hub's namespace only (the host's own setting is untouched).
  TNET_TRY_VOID(must(run(*t->hub_, {"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"}), "ip_forward"));
  TNET_TRY_VOID(must(run(*t->hub_, {"nft", "add table inet tnet_test"}), "nft table"));
  t->tableMade_ = true;
  TNET_TRY_VOID(must(run(*t->hub_, {"nft", "add chain inet tnet_test nodes { type filter hook forward priority 0 ; }"}),
                     "nft chain"));
  return t;
}

Result<void> Topology::blockUdpBetweenNodes(bool block) {
  TNET_TRY_VOID(must(run(*hub_, {"nft", "flush chain inet tnet_test nodes"}), "nft flush"));
  if (!block) return {};
  return must(run(*hub_, {"nft", "add rule inet tnet_test nodes meta l4proto udp drop"}), "nft drop udp");
}

Topology::~Topology() {
  // Namespaces go with their objects (veths and nft state die with them).
  a_.reset();
  b_.reset();
  hub_.reset();
}

}  // namespace tnet::tailnet_test
