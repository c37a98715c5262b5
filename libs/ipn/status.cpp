#include "libs/ipn/status.h"

namespace tnet::ipn {

namespace {
OrderedJson optList(const std::optional<std::vector<std::string>>& l) {
  return l ? OrderedJson(*l) : OrderedJson(nullptr);
}
}  // namespace

OrderedJson peerStatusToJson(const PeerStatus& p) {
  OrderedJson o = OrderedJson::object();
  o["ID"] = p.id;
  o["NodeID"] = p.nodeId;
  o["PublicKey"] = p.publicKey;
  o["HostName"] = p.hostName;
  o["DNSName"] = p.dnsName;
  o["OS"] = p.os;
  o["UserID"] = p.userId;
  o["TailscaleIPs"] = optList(p.tailscaleIps);
  o["Addrs"] = optList(p.addrs);
  o["CurAddr"] = p.curAddr;
  o["Relay"] = p.relay;
  o["PeerRelay"] = p.peerRelay;
  o["RxBytes"] = p.rxBytes;
  o["TxBytes"] = p.txBytes;
  o["Created"] = p.created;
  o["LastWrite"] = p.lastWrite;
  o["LastSeen"] = p.lastSeen;
  o["LastHandshake"] = p.lastHandshake;
  o["Online"] = p.online;
  o["ExitNode"] = p.exitNode;
  o["ExitNodeOption"] = p.exitNodeOption;
  o["Active"] = p.active;
  o["PeerAPIURL"] = optList(p.peerApiUrl);
  o["TaildropTarget"] = p.taildropTarget;
  o["NoFileSharingReason"] = p.noFileSharingReason;
  o["InNetworkMap"] = p.inNetworkMap;
  o["InMagicSock"] = p.inMagicSock;
  o["InEngine"] = p.inEngine;
  return o;
}

OrderedJson statusToJson(const Status& s) {
  OrderedJson o = OrderedJson::object();
  o["Version"] = s.version;
  o["TUN"] = s.tun;
  o["BackendState"] = s.backendState;
  if (s.haveNodeKey) o["HaveNodeKey"] = true;
  o["AuthURL"] = s.authUrl;
  o["TailscaleIPs"] = optList(s.tailscaleIps);
  o["Self"] = s.self ? peerStatusToJson(*s.self) : OrderedJson(nullptr);
  o["Health"] = s.health;
  o["MagicDNSSuffix"] = s.magicDnsSuffix;
  if (s.currentTailnet) {
    o["CurrentTailnet"] = OrderedJson{{"Name", s.currentTailnet->name},
                                      {"MagicDNSSuffix", s.currentTailnet->magicDnsSuffix},
                                      {"MagicDNSEnabled", s.currentTailnet->magicDnsEnabled}};
  } else {
    o["CurrentTailnet"] = nullptr;
  }
  o["CertDomains"] = optList(s.certDomains);
  o["ExtraRecords"] = nullptr;
  if (s.peer) {
    OrderedJson peers = OrderedJson::object();
    for (const auto& [key, ps] : *s.peer) peers[key] = peerStatusToJson(ps);
    o["Peer"] = std::move(peers);
  } else {
    o["Peer"] = nullptr;
  }
  if (s.user) {
    // Go sorts map keys as strings ("10" before "9"): std::map<string> gives that order.
    std::map<std::string, const UserProfile*> byText;
    for (const auto& [id, up] : *s.user) byText[std::to_string(id)] = &up;
    OrderedJson users = OrderedJson::object();
    for (const auto& [id, up] : byText) users[id] = up->toJson();
    o["User"] = std::move(users);
  } else {
    o["User"] = nullptr;
  }
  o["ClientVersion"] = nullptr;
  return o;
}

std::string statusToLocalApiBody(const Status& s) {
  return goMarshal(statusToJson(s), true) + "\n";
}

}  // namespace tnet::ipn
