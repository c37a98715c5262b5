// Conn: one local TCP socket bridged to one TCP connection — a SOCKS5/HTTP proxy client (to lwIP,
// to an OS socket, or to quad-100's DNS over TCP) or a peer's inbound connection (to 127.0.0.1).
// Its members are defined by job: tcp_conn.cpp (lifecycle, local socket, the lwIP bridge),
// tcp_conn_proxy.cpp (SOCKS5/HTTP request and where the target goes), tcp_conn_os.cpp (OS dial and
// splice), tcp_conn_quad100.cpp (DNS over TCP to quad-100). Internal to netstackd's engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lwip/err.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "services/netstackd/app/netstack.h"
#include "services/netstackd/app/os_dial.h"

namespace tnet::netstack {

class Conn {
 public:
  enum class Kind { AUTO, SOCKS5, HTTP, INBOUND };
  enum class Phase {
    GREETING,
    REQUEST,
    HTTP_HEAD,
    CONNECTING,
    RESOLVING,      // the OS resolver has the name
    OS_CONNECTING,  // OsConnector races the addresses
    SPLICE,         // local socket ⇄ OS socket
    LOCAL_DIAL,
    WAIT_ACCEPT,
    BRIDGE,
    UDP_CONTROL,
    DNS_TCP,
    DONE
  };

  Conn(Engine& e, int fd, Kind kind);
  ~Conn();

  // Inbound: the SYN that waits for the local dial.
  std::vector<uint8_t> syn;
  bool inboundV6 = false;
  Addr inboundRemote;
  uint16_t inboundRemotePort = 0, inboundLocalPort = 0;
  UdpAssoc* assoc = nullptr;
  bus::Handle acceptTimer;

  void attachAccepted(struct tcp_pcb* pcb);

  void fail() { finish(true); }

 private:
  // ---- local socket ----
  void onFdEvent(uint32_t ev);
  void onReadable();
  void readHandshake();
  void writeLocal(const void* data, size_t len);
  void advanceHandshake();
  void socksFail(uint8_t why);
  void httpFail(int status, const std::string& error);
  void startUdpAssociate();

  // ---- where the target goes: Go's UserDial (MagicDNS, then the OS resolver; node addresses
  // into the netstack, quad-100 in-process, everything else through the OS) ----
  void connectName(std::string host, uint16_t port);
  void onResolved(HostResolver::Answer answer);
  void connectAddr(Addr a, uint16_t port);
  void osDial(std::vector<Addr> addrs, uint16_t port);
  void onOsDialed(OsConnector::Outcome o);
  void onDialTimeout();
  void dialFailed(int err, const std::string& text);

  // One direction of an OS-dialled connection: read what the peer socket takes, never more than
  // SPLICE_CHUNK held here. Edge-triggered: both directions run until EAGAIN on every event.
  struct Flow {
    std::vector<uint8_t> buf;
    size_t off = 0;
    bool eof = false, shut = false;
  };
  static bool pumpFlow(int from, int to, Flow& f);
  void pumpSplice();
  void connectQuad100(const Addr& q, uint16_t port);
  void serveDnsTcp();

  // ---- lwIP side ----
  void dial(const Addr& dst, uint16_t port);
  void onConnected();
  void setupPcb();
  size_t globalRoom() const;
  void unqueue(size_t len);
  void detachPcb(bool abort);
  void onPcbError(err_t err);
  err_t onRecv(struct pbuf* p);
  void flushToLocal();
  void pumpToTailnet();
  void maybeDone();
  void abortBoth();
  void finish(bool abortPcb);

  static constexpr std::chrono::seconds HANDSHAKE_TIMEOUT{30};

  Engine& e_;
  int fd_;
  Kind kind_;
  Phase phase_;
  bus::Handle handshakeTimer_;
  uint64_t token_ = 0;
  struct tcp_pcb* pcb_ = nullptr;
  std::vector<uint8_t> inbuf_, stash_;
  size_t stashOff_ = 0;
  size_t queued_ = 0;  // our share of Engine::queuedBytes()
  struct pbuf* toLocal_ = nullptr;
  size_t toLocalOff_ = 0;
  bool httpConnect_ = false;
  bool localEof_ = false, tailnetEof_ = false, localShut_ = false, tailnetShut_ = false;
  // OS path.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // resolver answers check it
  bus::Handle dialTimer_;
  std::string target_;  // the name being resolved, for error texts
  uint16_t targetPort_ = 0;
  std::unique_ptr<OsConnector> osDial_;
  int osFd_ = -1;
  uint64_t osToken_ = 0;
  Flow up_, down_;  // local → OS, OS → local

  friend class Engine;
};

}  // namespace tnet::netstack
