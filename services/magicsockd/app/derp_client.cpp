#include "services/magicsockd/app/derp_client.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <optional>
#include <utility>  // before Asio (BUILD-NOTES gotcha 9)

#include "libs/bus/loop_asio.h"
#include "libs/wire/derp_frame_reader.h"

namespace tnet::magicsockd {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {
constexpr auto CONNECT_TIMEOUT_PER_NODE = 1500ms;  // Go: 1.5 s per TCP dial
constexpr auto WHOLE_CONNECT_TIMEOUT = 10s;        // Go: DNS + TCP + TLS + upgrade + handshake
constexpr size_t MAX_HTTP_HEAD = 8192;
constexpr size_t MAX_WRITE_COALESCE = 256 << 10;
// Control frames (Pong, NotePreferred) are never dropped, but a server that floods pings while
// not reading our writes must not grow the queue without bound: past this the connection closes.
constexpr size_t MAX_QUEUED_FRAMES = 1024;
constexpr std::string_view PIN_PREFIX = "sha256-raw:";
}  // namespace

bool certMatchesPin(ByteSpan der, std::string_view certName) {
  if (certName.substr(0, PIN_PREFIX.size()) != PIN_PREFIX) return false;
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned mdLen = 0;
  if (EVP_Digest(der.data(), der.size(), md, &mdLen, EVP_sha256(), nullptr) != 1) return false;
  auto want = hexDecode(certName.substr(PIN_PREFIX.size()));
  return want && want->size() == mdLen && std::equal(want->begin(), want->end(), md);
}

void resolveHost(bus::Loop& loop, const std::string& host,
                 std::function<void(std::vector<std::string>)> done) {
  auto resolver = std::make_shared<tcp::resolver>(bus::ioContext(loop));
  resolver->async_resolve(host, "",
                          [resolver, done = std::move(done)](const boost::system::error_code& ec,
                                                             tcp::resolver::results_type results) {
                            std::vector<std::string> out;
                            if (!ec) {
                              for (const auto& r : results) out.push_back(r.endpoint().address().to_string());
                            }
                            done(std::move(out));
                          });
}

struct DerpClient::Impl {
  enum class State {
    IDLE,
    DIALING,
    UPGRADING,
    WAIT_SERVER_KEY,
    SEALING,
    WAIT_SERVER_INFO,
    CONNECTED,
    CLOSED
  };

  DerpClient& owner;
  asio::io_context& io;
  std::vector<DerpNodeDial> nodes;
  bool plainHttp;
  DerpClientCallbacks cb;
  State state = State::IDLE;
  std::optional<tcp::socket> plain;
  std::unique_ptr<asio::ssl::context> sslCtx;
  std::optional<asio::ssl::stream<tcp::socket>> tls;
  asio::steady_timer overall;
  asio::steady_timer step;
  size_t nodeIdx = 0;
  std::vector<tcp::endpoint> candidates;
  size_t candIdx = 0;
  std::string httpHead;
  derp::FrameReader reader{derp::ReaderRole::CLIENT};
  std::vector<uint8_t> rbuf = std::vector<uint8_t>(64 << 10);
  struct Out {
    Bytes frame;
    bool packet;
  };
  std::deque<Out> queue;
  std::vector<Bytes> preConnect;  // SendPackets written while dialling, at most SEND_QUEUE_PACKETS
  size_t queuedPackets = 0;
  Bytes writing;
  size_t writingFrames = 0;
  size_t writingPackets = 0;
  bool writeInFlight = false;
  uint64_t generation = 0;  // bumps on close: stale completions are ignored

  Impl(DerpClient& o, std::vector<DerpNodeDial> n, bool ph, DerpClientCallbacks c)
      : owner(o),
        io(bus::ioContext(o.loop_)),
        nodes(std::move(n)),
        plainHttp(ph),
        cb(std::move(c)),
        overall(io),
        step(io) {}

  tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }

  template <typename F>
  void asyncWrite(asio::const_buffer b, F&& f) {
    if (tls) {
      asio::async_write(*tls, b, std::forward<F>(f));
    } else {
      asio::async_write(*plain, b, std::forward<F>(f));
    }
  }
  template <typename F>
  void asyncRead(F&& f) {
    if (tls) {
      tls->async_read_some(asio::buffer(rbuf), std::forward<F>(f));
    } else {
      plain->async_read_some(asio::buffer(rbuf), std::forward<F>(f));
    }
  }

  void shutdownSockets() {
    boost::system::error_code ec;
    overall.cancel();
    step.cancel();
    if (tls) {
      tls->next_layer().close(ec);
      tls.reset();
    }
    if (plain) {
      plain->close(ec);
      plain.reset();
    }
  }

  void fail(const std::string& why) {
    if (state == State::CLOSED) return;
    state = State::CLOSED;
    ++generation;
    shutdownSockets();
    queue.clear();
    preConnect.clear();
    queuedPackets = 0;
    if (cb.onClosed) cb.onClosed(why);
  }

  void start() {
    state = State::DIALING;
    nodeIdx = 0;
    auto self = owner.shared_from_this();
    uint64_t gen = generation;
    overall.expires_after(WHOLE_CONNECT_TIMEOUT);
    overall.async_wait([this, self, gen](const boost::system::error_code& ec) {
      if (ec || gen != generation || state == State::CONNECTED || state == State::CLOSED) return;
      fail("connect timeout");
    });
    nextNode();
  }

  void nextNode() {
    while (nodeIdx < nodes.size() && nodes[nodeIdx].stunOnly) ++nodeIdx;
    if (nodeIdx >= nodes.size()) return fail("no DERP node reachable");
    const auto& n = nodes[nodeIdx];
    owner.nodeName_ = n.name;
    uint16_t port = n.derpPort > 0 ? uint16_t(n.derpPort) : (plainHttp ? 3340 : 443);
    candidates.clear();
    candIdx = 0;
    boost::system::error_code ec;
    bool literal = false;
    if (!n.ipv4.empty()) {
      literal = true;
      auto a = asio::ip::make_address_v4(n.ipv4, ec);
      if (!ec) candidates.emplace_back(a, port);
    }
    if (!n.ipv6.empty()) {
      literal = true;
      auto a = asio::ip::make_address_v6(n.ipv6, ec);
      if (!ec) candidates.emplace_back(a, port);
    }
    if (literal || n.hostName.empty()) return tryCandidate();
    auto self = owner.shared_from_this();
    uint64_t gen = generation;
    resolveHost(owner.loop_, n.hostName, [this, self, gen, port](std::vector<std::string> addrs) {
      if (gen != generation || state == State::CLOSED) return;
      for (const auto& s : addrs) {
        boost::system::error_code e;
        auto a = asio::ip::make_address(s, e);
        if (!e) candidates.emplace_back(a, port);
      }
      tryCandidate();
    });
  }

  void tryCandidate() {
    if (candIdx >= candidates.size()) {
      ++nodeIdx;
      return nextNode();
    }
    auto ep = candidates[candIdx++];
    tls.reset();
    plain.emplace(io);
    auto self = owner.shared_from_this();
    uint64_t gen = ++generation;
    step.expires_after(CONNECT_TIMEOUT_PER_NODE);
    step.async_wait([this, self, gen](const boost::system::error_code& ec) {
      if (ec || gen != generation || state != State::DIALING) return;
      boost::system::error_code e;
      if (plain) plain->close(e);  // the pending connect completes with an error: next candidate
    });
    plain->async_connect(ep, [this, self, gen](const boost::system::error_code& ec) {
      if (gen != generation || state != State::DIALING) return;
      step.cancel();
      if (ec) return tryCandidate();
      boost::system::error_code e;
      plain->set_option(tcp::no_delay(true), e);
      if (plainHttp) return sendUpgrade();
      startTls();
    });
  }

  void startTls() {
    const auto& n = nodes[nodeIdx];
    sslCtx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    sslCtx->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                        asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    sslCtx->set_default_verify_paths(ec);
    bool pinned = n.certName.rfind(PIN_PREFIX, 0) == 0;
    tls.emplace(std::move(*plain), *sslCtx);
    plain.reset();
    SSL_set_tlsext_host_name(tls->native_handle(), n.hostName.c_str());
    if (n.insecureForTests || pinned) {
      tls->set_verify_mode(asio::ssl::verify_none);  // a pin is checked after the handshake
    } else {
      tls->set_verify_mode(asio::ssl::verify_peer);
      tls->set_verify_callback(
          asio::ssl::host_name_verification(n.certName.empty() ? n.hostName : n.certName));
    }
    auto self = owner.shared_from_this();
    uint64_t gen = generation;
    tls->async_handshake(asio::ssl::stream_base::client,
                         [this, self, gen, pinned](const boost::system::error_code& e) {
                           if (gen != generation || state != State::DIALING) return;
                           if (e) return tryCandidate();
                           if (pinned) {
                             X509* cert = SSL_get1_peer_certificate(tls->native_handle());
                             bool ok = false;
                             if (cert) {
                               unsigned char* der = nullptr;
                               int len = i2d_X509(cert, &der);
                               if (len > 0)
                                 ok = certMatchesPin(ByteSpan(der, size_t(len)), nodes[nodeIdx].certName);
                               OPENSSL_free(der);
                               X509_free(cert);
                             }
                             if (!ok) return fail("certificate does not match the sha256-raw pin");
                           }
                           sendUpgrade();
                         });
  }

  void sendUpgrade() {
    state = State::UPGRADING;
    const auto& n = nodes[nodeIdx];
    std::string host = n.hostName.empty() ? (n.ipv4.empty() ? n.ipv6 : n.ipv4) : n.hostName;
    auto req =
        std::make_shared<std::string>("GET /derp HTTP/1.1\r\nHost: " + host +
                                      "\r\nConnection: Upgrade\r\nUpgrade: DERP\r\nUser-Agent: tailnetd\r\n");
    if (nodeIdx != 0 && !nodes.empty()) *req += "Ideal-Node: " + nodes[0].name + "\r\n";
    *req += "\r\n";
    auto self = owner.shared_from_this();
    uint64_t gen = generation;
    asyncWrite(asio::buffer(*req), [this, self, gen, req](const boost::system::error_code& ec, size_t) {
      if (gen != generation || state == State::CLOSED) return;
      if (ec) return fail("write upgrade: " + ec.message());
      readMore();
    });
  }

  void readMore() {
    auto self = owner.shared_from_this();
    uint64_t gen = generation;
    asyncRead([this, self, gen](const boost::system::error_code& ec, size_t n) {
      if (gen != generation || state == State::CLOSED) return;
      if (ec) return fail(ec == asio::error::eof ? "server closed the connection" : "read: " + ec.message());
      ByteSpan in(rbuf.data(), n);
      if (state == State::UPGRADING) {
        httpHead.append(reinterpret_cast<const char*>(in.data()), in.size());
        size_t end = httpHead.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (httpHead.size() > MAX_HTTP_HEAD) return fail("HTTP response head too large");
          return readMore();
        }
        if (httpHead.rfind("HTTP/1.1 101", 0) != 0 && httpHead.rfind("HTTP/1.0 101", 0) != 0) {
          return fail("DERP upgrade refused: " +
                      httpHead.substr(0, std::min<size_t>(httpHead.find("\r\n"), 80)));
        }
        size_t consumed = in.size() - (httpHead.size() - (end + 4));
        in = in.subspan(consumed);
        httpHead.clear();
        state = State::WAIT_SERVER_KEY;
      }
      if (!onBytes(in)) return;
      readMore();
    });
  }

  // false when the connection failed.
  bool onBytes(ByteSpan in) {
    for (;;) {
      auto f = reader.next(in);
      if (!f) {
        fail("protocol: " + f.error().message);
        return false;
      }
      if (!*f) return true;
      if (!onFrame(**f)) return false;
    }
  }

  bool onFrame(const derp::Frame& frame) {
    owner.stats_.framesIn++;
    switch (state) {
      case State::WAIT_SERVER_KEY: {
        auto sk = derp::parseServerKey(frame);
        if (!sk) {
          fail("bad ServerKey: " + sk.error().message);
          return false;
        }
        state = State::SEALING;
        auto self = owner.shared_from_this();
        uint64_t gen = generation;
        cb.sealClientInfo(*sk, [this, self, gen](Result<Bytes> payload) {
          if (gen != generation || state != State::SEALING) return;
          if (!payload) return fail("derpClientInfo: " + payload.error().message);
          Bytes out;
          if (!derp::appendFrame(out, derp::FrameType::CLIENT_INFO, *payload))
            return fail("ClientInfo too large");
          state = State::WAIT_SERVER_INFO;
          enqueue(std::move(out), false);
        });
        return true;
      }
      case State::SEALING:
        return true;  // nothing is expected before our ClientInfo; skip (fast-start style)
      case State::WAIT_SERVER_INFO:
        if (frame.type != derp::FrameType::SERVER_INFO) return true;
        if (frame.payload.size() < derp::NONCE_LEN) {
          fail("short ServerInfo");
          return false;
        }
        state = State::CONNECTED;
        overall.cancel();
        for (auto& f : preConnect) enqueue(std::move(f), true);
        preConnect.clear();
        if (cb.onConnected) cb.onConnected();
        return state == State::CONNECTED;
      case State::CONNECTED:
        break;
      default:
        return true;
    }
    if (cb.onFrame) cb.onFrame();
    auto msg = derp::decodeServerFrame(frame);
    if (auto* rp = std::get_if<derp::RecvPacket>(&msg)) {
      owner.stats_.packetsIn++;
      if (cb.onPacket) cb.onPacket(*rp);
    } else if (std::holds_alternative<derp::KeepAlive>(msg)) {
      owner.stats_.keepAlives++;
    } else if (auto* pg = std::get_if<derp::PeerGone>(&msg)) {
      if (cb.onPeerGone) cb.onPeerGone(*pg);
    } else if (auto* pp = std::get_if<derp::PeerPresent>(&msg)) {
      if (cb.onPeerPresent) cb.onPeerPresent(*pp);
    } else if (auto* ping = std::get_if<derp::Ping>(&msg)) {
      owner.stats_.pingsAnswered++;
      Bytes out;
      derp::appendPong(out, ping->data);
      enqueue(std::move(out), false);
    } else {
      owner.stats_.ignoredFrames++;
    }
    return state == State::CONNECTED;
  }

  void enqueue(Bytes frame, bool packet) {
    if (queue.size() >= MAX_QUEUED_FRAMES) return fail("write queue overflow (server not reading)");
    queue.push_back(Out{std::move(frame), packet});
    if (packet) ++queuedPackets;
    startWrite();
  }

  void startWrite() {
    if (writeInFlight || queue.empty() || state == State::CLOSED) return;
    writing.clear();
    writingFrames = 0;
    writingPackets = 0;
    while (!queue.empty() &&
           (writing.empty() || writing.size() + queue.front().frame.size() <= MAX_WRITE_COALESCE)) {
      writing.insert(writing.end(), queue.front().frame.begin(), queue.front().frame.end());
      if (queue.front().packet) ++writingPackets;
      ++writingFrames;
      queue.pop_front();
    }
    queuedPackets -= writingPackets;
    writeInFlight = true;
    auto self = owner.shared_from_this();
    uint64_t gen = generation;
    asyncWrite(asio::buffer(writing), [this, self, gen](const boost::system::error_code& ec, size_t) {
      if (gen != generation || state == State::CLOSED) return;
      writeInFlight = false;
      if (ec) return fail("write: " + ec.message());
      owner.stats_.packetsOut += writingPackets;
      startWrite();
    });
  }
};

DerpClient::DerpClient(bus::Loop& loop, int regionId, std::vector<DerpNodeDial> nodes, bool plainHttp,
                       DerpClientCallbacks callbacks)
    : loop_(loop),
      regionId_(regionId),
      impl_(std::make_unique<Impl>(*this, std::move(nodes), plainHttp, std::move(callbacks))) {}

DerpClient::~DerpClient() {
  impl_->state = Impl::State::CLOSED;
  impl_->shutdownSockets();
}

void DerpClient::connect() {
  if (impl_->state != Impl::State::IDLE) return;
  impl_->start();
}

bool DerpClient::send(const derp::NodePublic& dst, ByteSpan packet) {
  auto st = impl_->state;
  bool connecting = st != Impl::State::CONNECTED && st != Impl::State::CLOSED;
  size_t held = connecting ? impl_->preConnect.size() : impl_->queuedPackets;
  if (st == Impl::State::CLOSED || held >= SEND_QUEUE_PACKETS) {
    stats_.dropsQueueFull++;
    return false;
  }
  Bytes out;
  if (!derp::appendSendPacket(out, dst, packet)) return false;
  if (connecting) {
    // Held until ServerInfo arrives (Go's 32-deep write channel fills while dialling too).
    impl_->preConnect.push_back(std::move(out));
  } else {
    impl_->enqueue(std::move(out), true);
  }
  return true;
}

void DerpClient::notePreferred(bool preferred) {
  if (impl_->state != Impl::State::CONNECTED) return;
  Bytes out;
  derp::appendNotePreferred(out, preferred);
  impl_->enqueue(std::move(out), false);
}

void DerpClient::close() {
  if (impl_->state == Impl::State::CLOSED) return;
  impl_->state = Impl::State::CLOSED;
  ++impl_->generation;
  impl_->shutdownSockets();
}

bool DerpClient::connected() const {
  return impl_->state == Impl::State::CONNECTED;
}

}  // namespace tnet::magicsockd
