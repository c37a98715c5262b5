// Test doubles for the services ipnd drives, each a real bus node on the real runtime dir
// (a Bus created for service "wgd" binds wgd's endpoints and serves wgd's methods), so ipnd
// talks to them exactly as to the real services. They keep to the schemas' contracts
// (schemas/wgd, controld, magicsockd, netstackd .capnp) and record what ipnd asked.
#pragma once

#include <gtest/gtest.h>
#include <sys/random.h>

#include <memory>
#include <string>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/bus/bus.h"
#include "schemas/common.capnp.h"
#include "schemas/controld.capnp.h"
#include "schemas/magicsockd.capnp.h"
#include "schemas/netmap.capnp.h"
#include "schemas/netstackd.capnp.h"
#include "schemas/wgd.capnp.h"

namespace tnet::ipnd_test {

inline std::string randomKey(const std::string& prefix) {
  uint8_t b[32];
  if (getrandom(b, sizeof b, 0) != ssize_t(sizeof b)) std::abort();
  return prefix + hexEncode(ByteSpan(b, sizeof b));
}

// Every config push any double received, in arrival order: "<svc>:<n>".
struct PushLog {
  std::vector<std::string> entries;
  uint64_t lastEpoch = 0;
};

inline std::unique_ptr<bus::Bus> makeBus(bus::Loop& loop, const std::string& runtime, const std::string& svc) {
  auto b = bus::Bus::create(loop, bus::BusOptions{runtime, svc});
  if (!b) {
    ADD_FAILURE() << "bus for " << svc << ": " << b.error().message;
    return nullptr;
  }
  return std::move(*b);
}

template <typename T>
void ackConfig(bus::Request& req, PushLog& log, const std::string& svc) {
  auto cfg = req.params<T>();
  auto gen = cfg.getGeneration();
  log.entries.push_back(svc + ":" + std::to_string(gen.getN()));
  log.lastEpoch = gen.getEpoch();
  req.reply([&](capnp::AnyPointer::Builder b) { b.initAs<schema::ConfigAck>().setApplied(gen); });
}

// wgd: the node key holder (current + at most one pending key).
struct FakeWgd {
  FakeWgd(bus::Loop& loop, const std::string& runtime, PushLog& log, std::string current = "") : current(std::move(current)) {
    bus = makeBus(loop, runtime, "wgd");
    bus->serve("wgd.prepareNodeKey", [this](bus::Request req) {
      if (pending.empty()) pending = randomKey("nodekey:");
      ++prepares;
      req.reply([&](capnp::AnyPointer::Builder b) { b.initAs<schema::NodeKey>().setNodePublic(pending); });
      publishNodeKey();
    });
    bus->serve("wgd.commitNodeKey", [this](bus::Request req) {
      std::string key = req.params<schema::NodeKey>().getNodePublic().cStr();
      if (key != pending && key != this->current) {
        req.fail(Error::invalid("not the pending or current key"));
        return;
      }
      if (key == pending) {
        this->current = pending;
        pending.clear();
        ++commits;
      }
      req.replyEmpty();
      publishNodeKey();
    });
    bus->serve("wgd.discardPendingKey", [this](bus::Request req) {
      pending.clear();
      ++discards;
      req.replyEmpty();
      publishNodeKey();
    });
    bus->serve("wgd.setConfig", [this, &log](bus::Request req) {
      auto cfg = req.params<schema::WgConfig>();
      peers = cfg.getPeers().size();
      addresses.clear();
      for (auto a : cfg.getAddresses()) addresses.emplace_back(a.cStr());
      ++configs;
      ackConfig<schema::WgConfig>(req, log, "wgd");
    });
    // wgd.ping: answers `pingReply` at once (err, latency, peerapi port), or never when
    // pingSilent (ipnd's own deadline must answer the caller).
    bus->serve("wgd.ping", [this](bus::Request req) {
      auto p = req.params<schema::WgPingParams>();
      pings.push_back({p.getIp().cStr(), p.getKind() == schema::WgPingKind::ICMP ? "ICMP" : "TSMP", p.getTimeoutMs()});
      if (pingSilent) {
        held.push_back(req);
        return;
      }
      req.reply([&](capnp::AnyPointer::Builder b) {
        auto r = b.initAs<schema::WgPingReply>();
        r.setErr(pingReply.err);
        r.setLatencyNs(pingReply.latencyNs);
        r.setPeerApiPort(pingReply.peerApiPort);
      });
    });
    publishNodeKey();
  }
  void publishNodeKey() {
    bus->publish("wgd.nodekey", [&](capnp::AnyPointer::Builder b) {
      auto s = b.initAs<schema::NodeKeyState>();
      s.setCurrent(current);
      s.setPending(pending);
      s.setCommits(commits);
    });
  }
  void publishPeer(const std::string& key, int64_t handshakeNano, uint64_t rx, uint64_t tx) {
    bus->publish("wgd.peers", [&](capnp::AnyPointer::Builder b) {
      auto s = b.initAs<schema::WgPeers>();
      s.setFull(true);
      auto p = s.initPeers(1)[0];
      p.setNodePublic(key);
      p.setLastHandshakeUnixNano(handshakeNano);
      p.setRxBytes(rx);
      p.setTxBytes(tx);
      p.setState("established");
    });
  }
  std::unique_ptr<bus::Bus> bus;
  std::string current, pending;
  int prepares = 0, commits = 0, discards = 0, configs = 0;
  size_t peers = 0;
  std::vector<std::string> addresses;
  struct PingAsked {
    std::string ip, kind;
    uint32_t timeoutMs = 0;
  };
  struct PingAnswer {
    std::string err;
    int64_t latencyNs = 0;
    uint16_t peerApiPort = 0;
  };
  std::vector<PingAsked> pings;
  PingAnswer pingReply{"", 3'400'000, 0};
  bool pingSilent = false;
  std::vector<bus::Request> held;
};

struct LoginRecord {
  std::string controlUrl, nodePublic, oldNodePublic, authKey, hostinfo;
  bool interactive = false;
};

// controld: answers logins as the chosen control server would, and streams a netmap once the
// config has a committed key, the disco key and WantRunning (schemas/controld.capnp).
struct FakeControld {
  enum class Mode { REGISTER, AUTH_URL, ERROR };
  static constexpr const char* PEER_WITH_HOSTINFO =
      "nodekey:b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
  static constexpr const char* PEER_WITHOUT_HOSTINFO =
      "nodekey:c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

  FakeControld(bus::Loop& loop, const std::string& runtime, PushLog& log) {
    bus = makeBus(loop, runtime, "controld");
    bus->serve("controld.login", [this](bus::Request req) {
      auto p = req.params<schema::LoginParams>();
      LoginRecord r;
      r.controlUrl = p.getControlUrl().cStr();
      r.nodePublic = p.getNodePublic().cStr();
      r.oldNodePublic = p.getOldNodePublic().cStr();
      r.authKey = p.getAuthKey().cStr();
      r.interactive = p.getInteractive();
      r.hostinfo.assign(reinterpret_cast<const char*>(p.getHostinfoJson().begin()), p.getHostinfoJson().size());
      logins.push_back(r);
      req.reply([&](capnp::AnyPointer::Builder b) {
        auto rep = b.initAs<schema::LoginReply>();
        switch (mode) {
          case Mode::REGISTER:
            rep.setRegistered(true);
            rep.setMachineAuthorized(true);
            break;
          case Mode::AUTH_URL:
            rep.setAuthUrl(authUrl());
            break;
          case Mode::ERROR:
            rep.setError("invalid key: unable to validate API key");
            break;
        }
      });
      if (mode == Mode::REGISTER) {
        loggedIn = r.nodePublic;
        ++finished;
      }
      phase = mode == Mode::AUTH_URL ? schema::ControlStatus::Phase::WAITING_FOR_AUTH
                                     : schema::ControlStatus::Phase::LOGGED_IN;
      publishStatus();
    });
    bus->serve("controld.logout", [this](bus::Request req) {
      logouts.emplace_back(req.params<schema::LogoutParams>().getNodePublic().cStr());
      loggedIn.clear();
      req.replyEmpty();
    });
    bus->serve("controld.setConfig", [this, &log](bus::Request req) {
      auto c = req.params<schema::ControlConfig>();
      configNodePublic = c.getNodePublic().cStr();
      configDiscoPublic = c.getDiscoPublic().cStr();
      configWantRunning = c.getWantRunning();
      configControlUrl = c.getControlUrl().cStr();
      configHostinfo.assign(reinterpret_cast<const char*>(c.getHostinfoJson().begin()), c.getHostinfoJson().size());
      configEndpoints = c.getEndpoints().size();
      ++configs;
      ackConfig<schema::ControlConfig>(req, log, "controld");
      bool poll = configWantRunning && !configNodePublic.empty() && !configDiscoPublic.empty();
      if (poll && configNodePublic != polledKey) {
        polledKey = configNodePublic;
        phase = schema::ControlStatus::Phase::MAP_POLLING;
        publishStatus();
        publishNetmap();
      } else if (!poll) {
        polledKey.clear();
      }
    });
    publishStatus();
  }
  std::string authUrl() const { return "http://127.0.0.1:9/a/" + std::to_string(logins.size()); }
  // The user visited the URL: the follow-up register returns for the last login's key.
  void approve() {
    loggedIn = logins.back().nodePublic;
    ++finished;
    phase = schema::ControlStatus::Phase::LOGGED_IN;
    publishStatus();
  }
  void publishStatus() {
    bus->publish("controld.status", [&](capnp::AnyPointer::Builder b) {
      auto s = b.initAs<schema::ControlStatus>();
      s.setPhase(phase);
      s.setLoggedInNodePublic(loggedIn);
      s.setLoginFinishedCount(finished);
      s.setMapConnected(phase == schema::ControlStatus::Phase::MAP_POLLING);
      s.setMachineAuthorized(true);
      if (phase == schema::ControlStatus::Phase::WAITING_FOR_AUTH) s.setAuthUrl(authUrl());
    });
  }
  void publishNetmap(bool selfExpired = false) {
    ++netmapGeneration;
    bus->publish("controld.netmap", [&](capnp::AnyPointer::Builder b) {
      auto nm = b.initAs<schema::Netmap>();
      nm.setGeneration(netmapGeneration);
      nm.setDomain("example.com");
      auto self = nm.initSelf();
      self.setId(1);
      self.setStableId("nSELF");
      self.setName("n1.tail1.ts.net.");
      self.setUser(10);
      self.setKey(polledKey);
      auto addrs = self.initAddresses(2);
      addrs.set(0, "100.64.0.1/32");
      addrs.set(1, "fd7a:115c:a1e0::1/128");
      self.setMachineAuthorized(true);
      self.setExpired(selfExpired);
      self.setHasHostinfo(true);
      self.getHostinfo().setHostname("n1");
      auto peers = nm.initPeers(2);
      peers[0].setId(2);
      peers[0].setStableId("nB");
      peers[0].setName("b.tail1.ts.net.");
      peers[0].setUser(10);
      peers[0].setKey(PEER_WITH_HOSTINFO);
      peers[0].setDiscoKey("discokey:" + std::string(64, 'd'));
      auto pa = peers[0].initAddresses(1);
      pa.set(0, "100.64.0.2/32");
      peers[0].initAllowedIps(1).set(0, "100.64.0.2/32");
      peers[0].initEndpoints(1).set(0, "127.0.0.1:41642");
      peers[0].setHomeDerp(1);
      peers[0].setHasHostinfo(true);
      peers[0].getHostinfo().setHostname("b");
      peers[0].getHostinfo().setOs("linux");
      peers[0].setHasOnline(true);
      peers[0].setOnline(true);
      peers[0].setMachineAuthorized(true);
      peers[1].setId(3);
      peers[1].setStableId("nC");
      peers[1].setName("c.tail1.ts.net.");
      peers[1].setUser(11);
      peers[1].setKey(PEER_WITHOUT_HOSTINFO);
      peers[1].initAddresses(1).set(0, "100.64.0.3/32");
      peers[1].setMachineAuthorized(true);
      auto region = nm.initDerpMap().initRegions(1)[0];
      region.setRegionId(1);
      region.setRegionCode("tst");
      region.setRegionName("Test");
      auto node = region.initNodes(1)[0];
      node.setName("1a");
      node.setRegionId(1);
      node.setHostName("127.0.0.1");
      nm.setHasDns(true);
      nm.getDns().setProxied(true);
      auto users = nm.initUserProfiles(2);
      users[0].setId(10);
      users[0].setLoginName("alice@example.com");
      users[0].setDisplayName("Alice");
      users[1].setId(11);
      users[1].setLoginName("bob@example.com");
      users[1].setDisplayName("Bob");
    });
  }
  std::unique_ptr<bus::Bus> bus;
  Mode mode = Mode::REGISTER;
  schema::ControlStatus::Phase phase = schema::ControlStatus::Phase::IDLE;
  std::vector<LoginRecord> logins;
  std::vector<std::string> logouts;
  std::string loggedIn, polledKey;
  uint64_t finished = 0, netmapGeneration = 0;
  std::string configNodePublic, configDiscoPublic, configControlUrl, configHostinfo;
  bool configWantRunning = false;
  size_t configEndpoints = 0;
  int configs = 0;
};

// magicsockd: publishes its disco key and DERP state, records its configs.
struct FakeMagicsockd {
  FakeMagicsockd(bus::Loop& loop, const std::string& runtime, PushLog& log) {
    bus = makeBus(loop, runtime, "magicsockd");
    disco = randomKey("discokey:");
    bus->serve("magicsockd.setConfig", [this, &log](bus::Request req) {
      auto c = req.params<schema::MagicsockConfig>();
      regions = c.getDerpMap().getRegions().size();
      peers = c.getPeers().size();
      wantRunning = c.getWantRunning();
      ++configs;
      ackConfig<schema::MagicsockConfig>(req, log, "magicsockd");
    });
    bus->publish("magicsockd.discokey", [&](capnp::AnyPointer::Builder b) {
      b.initAs<schema::DiscoKey>().setDiscoPublic(disco);
    });
    // Connected to its home region from the start, as the real one is a moment after a DERP map
    // arrives: Running needs a live DERP or peer (Go's rule).
    publishDerp(1, true);
    // magicsockd.ping: answers `pingReply` after `pingDelay` (later, as the real one does on a
    // pong), or never when pingSilent (ipnd's own timeout must answer the caller).
    bus->serve("magicsockd.ping", [this, &loop](bus::Request req) {
      auto p = req.params<schema::PingParams>();
      pings.emplace_back(p.getNodePublic().cStr(), p.getIp().cStr());
      if (pingSilent) {
        held.push_back(req);
        return;
      }
      timers.push_back(loop.after(pingDelay, [this, req]() mutable {
        req.reply([&](capnp::AnyPointer::Builder b) {
          auto r = b.initAs<schema::PingReply>();
          r.setErr(pingReply.err);
          r.setLatencyNs(pingReply.latencyNs);
          r.setEndpoint(pingReply.endpoint);
          r.setDerpRegionId(pingReply.derpRegionId);
          r.setDerpRegionCode(pingReply.derpRegionCode);
        });
      }));
    });
    bus->serve("magicsockd.netcheck", [this](bus::Request req) {
      ++netchecks;
      req.reply([&](capnp::AnyPointer::Builder b) {
        auto r = b.initAs<schema::NetcheckReport>();
        r.setUdp(true);
        r.setIpv4(true);
        r.setGlobalV4("127.0.0.1:41641");
        r.setMappingVariesByDestIp(0);
        r.setHairPinning(-1);
        r.setCaptivePortal(-1);
        r.setPreferredDerp(1);
        auto l = r.initRegionLatency(1)[0];
        l.setRegionId(1);
        l.setLatencyNs(1'520'000);
      });
    });
  }
  struct PingAnswer {
    std::string err;
    int64_t latencyNs = 0;
    std::string endpoint;
    int32_t derpRegionId = 0;
    std::string derpRegionCode;
  };
  PingAnswer pingReply{"", 12'300'000, "", 1, "tst"};
  std::chrono::milliseconds pingDelay{100};
  bool pingSilent = false;
  std::vector<std::pair<std::string, std::string>> pings;  // (nodePublic, ip)
  std::vector<bus::Request> held;
  std::vector<bus::Handle> timers;
  int netchecks = 0;
  void publishDerp(int32_t home, bool connected) {
    bus->publish("magicsockd.derp", [&](capnp::AnyPointer::Builder b) {
      auto d = b.initAs<schema::DerpState>();
      d.setHomeRegion(home);
      auto c = d.initConns(1)[0];
      c.setRegionId(home);
      c.setConnected(connected);
      c.setHome(true);
      auto e = d.initEndpoints(1)[0];
      e.setAddr("127.0.0.1:41641");
      e.setType(1);
    });
  }
  std::unique_ptr<bus::Bus> bus;
  std::string disco;
  size_t regions = 0, peers = 0;
  bool wantRunning = false;
  int configs = 0;
};

struct FakeNetstackd {
  FakeNetstackd(bus::Loop& loop, const std::string& runtime, PushLog& log) {
    bus = makeBus(loop, runtime, "netstackd");
    bus->serve("netstackd.setConfig", [this, &log](bus::Request req) {
      auto c = req.params<schema::NetstackConfig>();
      addresses = c.getAddresses().size();
      dnsNames = c.getDnsNames().size();
      shieldsUp = c.getShieldsUp();
      suffix = c.getMagicDnsSuffix().cStr();
      ++configs;
      ackConfig<schema::NetstackConfig>(req, log, "netstackd");
    });
  }
  std::unique_ptr<bus::Bus> bus;
  size_t addresses = 0, dnsNames = 0;
  bool shieldsUp = false;
  std::string suffix;
  int configs = 0;
};

}  // namespace tnet::ipnd_test
