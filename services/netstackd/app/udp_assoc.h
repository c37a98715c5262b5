// UdpAssoc: a SOCKS5 UDP ASSOCIATE — the client's loopback UDP socket ⇄ one lwIP UDP pcb per
// family for tailnet targets, quad-100's DNS answered in-process, a connected OS socket per other
// target. Internal to netstackd's engine.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "lwip/pbuf.h"
#include "lwip/udp.h"
#include "services/netstackd/app/netstack.h"
#include "services/netstackd/app/os_dial.h"

namespace tnet::netstack {

class UdpAssoc {
 public:
  UdpAssoc(Engine& e, int fd, Conn* control);
  ~UdpAssoc();
  Conn* control() const { return control_; }
  void detachControl() { control_ = nullptr; }

 private:
  bool ensurePcb(bool v6);
  void onLocal();
  void sendTo(Addr dst, uint16_t port, std::span<const uint8_t> payload, const std::string& name = "");
  void sendOs(const Addr& dst, uint16_t port, std::span<const uint8_t> payload, const std::string& name);
  void onOsReply(const std::tuple<Addr, uint16_t, std::string>& key);
  void sendToName(const std::string& name, uint16_t port, std::span<const uint8_t> payload);
  void onNameResolved(const std::string& name, HostResolver::Answer answer);
  void onTailnet(struct pbuf* p, const Addr& from, uint16_t port);
  void replyToClient(const Addr& from, uint16_t port, std::span<const uint8_t> payload);
  void sendToClient(const std::vector<uint8_t>& d);

  static constexpr size_t MAX_OS_TARGETS = 256, MAX_QUEUED = 16;
  struct OsTarget {
    int fd = -1;
    uint64_t token = 0;
  };
  struct PendingName {
    std::optional<Addr> addr;
    std::vector<std::pair<uint16_t, std::vector<uint8_t>>> queued;
  };

  Engine& e_;
  int fd_;
  Conn* control_;
  uint64_t token_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::map<std::tuple<Addr, uint16_t, std::string>, OsTarget> osTargets_;
  std::map<std::string, PendingName> names_;
  struct udp_pcb* pcb_ = nullptr;
  struct udp_pcb* pcb6_ = nullptr;
  sockaddr_storage client_{};
  socklen_t clientLen_ = 0;
  bool haveClient_ = false;
};

}  // namespace tnet::netstack
