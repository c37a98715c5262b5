#include "services/ipnd/app/config_build.h"

#include "libs/ipn/go_json.h"
#include "services/controld/core/hostinfo.h"

namespace tnet::ipnd {

namespace {

void setTexts(capnp::List<capnp::Text>::Builder out, capnp::List<capnp::Text>::Reader in) {
  for (unsigned i = 0; i < in.size(); ++i) out.set(i, in[i]);
}

bool live(const ConfigSources& src) {
  return src.netmap.has_value() && src.backend.engineConfigured();
}

// "100.64.0.2/32" → "100.64.0.2" for DNS answers.
std::vector<std::string> bareSingleIps(capnp::List<capnp::Text>::Reader prefixes) {
  std::vector<std::string> all;
  for (auto p : prefixes) all.emplace_back(p.cStr());
  return singleIps(all);
}

}  // namespace

void buildWgConfig(schema::WgConfig::Builder out, schema::Generation::Reader gen, const ConfigSources& src) {
  out.setGeneration(gen);
  if (!live(src)) return;
  auto nm = *src.netmap;
  setTexts(out.initAddresses(nm.getSelf().getAddresses().size()), nm.getSelf().getAddresses());
  auto peers = nm.getPeers();
  auto list = out.initPeers(peers.size());
  for (unsigned i = 0; i < peers.size(); ++i) {
    list[i].setNodePublic(peers[i].getKey());
    auto allowed = peers[i].getAllowedIps().size() > 0 ? peers[i].getAllowedIps() : peers[i].getAddresses();
    setTexts(list[i].initAllowedIps(allowed.size()), allowed);
  }
}

void buildMagicsockConfig(schema::MagicsockConfig::Builder out, schema::Generation::Reader gen,
                          const ConfigSources& src) {
  out.setGeneration(gen);
  out.setWantRunning(live(src));
  if (!live(src)) return;
  auto nm = *src.netmap;
  out.setDerpMap(nm.getDerpMap());
  auto peers = nm.getPeers();
  auto list = out.initPeers(peers.size());
  for (unsigned i = 0; i < peers.size(); ++i) {
    auto p = peers[i];
    list[i].setNodePublic(p.getKey());
    list[i].setDiscoPublic(p.getDiscoKey());
    setTexts(list[i].initEndpoints(p.getEndpoints().size()), p.getEndpoints());
    list[i].setHomeDerp(p.getHomeDerp());
    list[i].setOnline(p.getHasOnline() && p.getOnline());
  }
}

void buildNetstackConfig(schema::NetstackConfig::Builder out, schema::Generation::Reader gen,
                         const ConfigSources& src) {
  out.setGeneration(gen);
  out.setShieldsUp(src.backend.prefs().shieldsUp);
  if (!live(src)) return;
  auto nm = *src.netmap;
  setTexts(out.initAddresses(nm.getSelf().getAddresses().size()), nm.getSelf().getAddresses());
  out.setPacketFilterKnown(nm.getPacketFilterKnown());
  out.setPacketFilter(nm.getPacketFilter());
  const auto& facts = *src.backend.netmap();
  out.setMagicDnsSuffix(facts.magicDnsSuffix);
  // Self and every peer with a name, as quad-100 answers them.
  std::vector<std::pair<std::string, std::vector<std::string>>> names;
  auto add = [&](schema::Node::Reader n) {
    std::string name = n.getName().cStr();
    if (name.empty()) return;
    if (name.back() != '.') name += '.';
    auto ips = bareSingleIps(n.getAddresses());
    if (!ips.empty()) names.emplace_back(std::move(name), std::move(ips));
  };
  add(nm.getSelf());
  for (auto p : nm.getPeers()) add(p);
  auto list = out.initDnsNames(unsigned(names.size()));
  for (unsigned i = 0; i < names.size(); ++i) {
    list[i].setName(names[i].first);
    auto addrs = list[i].initAddresses(unsigned(names[i].second.size()));
    for (unsigned j = 0; j < names[i].second.size(); ++j) addrs.set(j, names[i].second[j]);
  }
}

std::string hostinfoJson(const ConfigSources& src) {
  const ipn::Prefs& p = src.backend.prefs();
  controld::Hostinfo h;
  h.ipnVersion = TNET_VERSION;
  h.os = "linux";
  h.osVersion = src.osVersion;
  h.hostname = p.hostname.empty() ? src.osHostname : p.hostname;
  h.shieldsUp = p.shieldsUp;
  h.machine = src.machine;
  if (p.advertiseTags) h.requestTags = *p.advertiseTags;
  if (p.advertiseRoutes) h.routableIps = *p.advertiseRoutes;
  h.userspace = ipn::OptBool::of(true);  // netstackd: userspace networking
  h.userspaceRouter = ipn::OptBool::of(true);
  return ipn::goMarshal(controld::hostinfoToJson(h));
}

void buildControlConfig(schema::ControlConfig::Builder out, schema::Generation::Reader gen,
                        const ConfigSources& src) {
  const Backend& b = src.backend;
  out.setGeneration(gen);
  out.setControlUrl(b.controlUrl());
  out.setWantRunning(b.prefs().wantRunning && !b.prefs().loggedOut);
  out.setNodePublic(b.nodePublicKey().value_or(""));
  out.setDiscoPublic(b.discoPublic());
  std::string hi = hostinfoJson(src);
  out.setHostinfoJson(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(hi.data()), hi.size()));
  if (src.derp) {
    out.setEndpoints(src.derp->getEndpoints());
    int32_t preferred = src.derp->getHomeRegion();
    if (preferred == 0 && src.derp->getHasReport()) preferred = src.derp->getReport().getPreferredDerp();
    out.setPreferredDerp(preferred);
  }
}

}  // namespace tnet::ipnd
