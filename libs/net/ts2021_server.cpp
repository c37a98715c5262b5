// The ts2021 server (Asio): HTTP/1.1 on a TCP listener (Beast's parser), GET /key, the /ts2021
// upgrade (Go: controlhttpserver.AcceptHTTP) to a controlbase responder, then HTTP/2 through
// H2ServerSession. Everything else goes to the application's onHttpRequest.
#include "libs/net/ts2021_server.h"

#include "libs/net/asio_stream.h"
// clang-format off
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
// clang-format on
#include <array>
#include <charconv>
#include <map>
#include <unordered_map>

#include "libs/bus/loop_asio.h"
#include "libs/crypto/crypto.h"
#include "libs/net/h2_server.h"
#include "libs/net/limits.h"
#include "libs/net/noise_pump.h"
#include "libs/wire/controlbase.h"
#include "libs/wire/controlbase_early.h"

namespace tnet::net {
namespace {

namespace http = boost::beast::http;
using detail::ByteStream;
using detail::error_code;
using detail::tcp;

constexpr std::string_view UPGRADE_VALUE = "tailscale-control-protocol";

std::string reasonPhrase(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Request Entity Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

// The value of query parameter `name` in target ("/key?v=116" → "116"), undecoded.
std::string queryParam(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return "";
}

class HttpConn;
class NoiseConn;

}  // namespace

struct Ts2021Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(bus::Loop& l, Ts2021ServerOptions o)
      : loop(l),
        options(std::move(o)),
        publicKey(options.serverKey.publicKey()),
        acceptor(bus::ioContext(l)) {}

  bus::Loop& loop;
  Ts2021ServerOptions options;
  key::MachinePublic publicKey;
  tcp::acceptor acceptor;
  bool closed = false;
  uint64_t nextConnId = 1;
  std::unordered_map<HttpConn*, std::weak_ptr<HttpConn>> httpConns;
  std::map<uint64_t, std::shared_ptr<NoiseConn>> noiseConns;

  void accept();
  size_t connections() const { return httpConns.size() + noiseConns.size(); }
  std::string keyJson() const {
    return "{\"legacyPublicKey\":\"" + key::MachinePublic().toString() + "\",\"publicKey\":\"" +
           publicKey.toString() + "\"}\n";
  }
};

namespace {

class NoiseConn : public detail::NoisePump {
 public:
  NoiseConn(ByteStream stream, controlbase::Session session, NoisePeer peer,
            std::weak_ptr<Ts2021Server::Impl> impl)
      : NoisePump(std::move(stream), std::move(session)), peer_(peer), impl_(std::move(impl)) {}

  Result<void> init(std::string earlyJson) {
    if (!earlyJson.empty()) {
      // ff ff ff 'T' 'S' | u32 BE length | JSON (controlbase_early.h).
      early_.assign(controlbase::EARLY_PAYLOAD_MAGIC.begin(), controlbase::EARLY_PAYLOAD_MAGIC.end());
      uint8_t len[4];
      putU32BE(len, static_cast<uint32_t>(earlyJson.size()));
      early_.insert(early_.end(), len, len + 4);
      early_.insert(early_.end(), earlyJson.begin(), earlyJson.end());
    }
    std::weak_ptr<NoiseConn> weak = std::static_pointer_cast<NoiseConn>(shared_from_this());
    auto h2 = H2ServerSession::create(
        [weak](ServerHttpRequest req, std::shared_ptr<H2ResponseWriter> w) {
          auto self = weak.lock();
          if (!self) return;
          auto impl = self->impl_.lock();
          if (!impl || impl->closed) return;
          if (impl->options.onNoiseRequest) {
            impl->options.onNoiseRequest(self->peer_, std::move(req), std::move(w));
          } else {
            w->respond(404, {{"content-type", "text/plain; charset=utf-8"}}, "404 page not found\n");
          }
        },
        [weak] {
          if (auto self = weak.lock()) self->flush();
        });
    if (!h2) return h2.error();
    h2_ = std::move(*h2);
    return {};
  }

  const NoisePeer& peer() const { return peer_; }
  H2ServerSession& h2() { return *h2_; }
  void closeAbruptly() { fail(Error::disconnected("closed by the server")); }

 protected:
  Result<void> onPlaintext(ByteSpan plaintext) override { return h2_->receive(plaintext); }
  void pullPlaintext(Bytes& out, size_t maxBytes) override {
    if (!early_.empty()) {
      out.insert(out.end(), early_.begin(), early_.end());
      early_.clear();
    }
    h2_->takeOutput(out, maxBytes);
  }
  void afterIo() override {
    auto impl = impl_.lock();
    auto self = shared_from_this();
    h2_->runEvents([impl] { return impl && !impl->closed; });
    if (!isOpen()) return;
    if (!h2_->alive()) return fail(Error::disconnected("HTTP/2 session finished"));
    flush();
  }
  void onFailed(Error) override {
    auto self = shared_from_this();
    auto impl = impl_.lock();
    h2_->closeAll();
    h2_->runEvents([impl] { return impl && !impl->closed; });
    if (!impl || impl->closed) return;
    impl->noiseConns.erase(peer_.connId);
    if (impl->options.onNoiseClosed) impl->options.onNoiseClosed(peer_);
  }

 private:
  NoisePeer peer_;
  std::weak_ptr<Ts2021Server::Impl> impl_;
  std::shared_ptr<H2ServerSession> h2_;
  Bytes early_;
};

class HttpConn : public std::enable_shared_from_this<HttpConn> {
 public:
  HttpConn(std::weak_ptr<Ts2021Server::Impl> impl, tcp::socket socket)
      : impl_(std::move(impl)), stream_(std::move(socket)) {}

  void start() {
    newParser();
    readMore();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.reset();
    stream_.close();
    if (auto impl = impl_.lock()) impl->httpConns.erase(this);
  }

 private:
  void newParser() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(MAX_HTTP1_HEADER_BYTES));
    parser_->body_limit(MAX_SERVER_REQUEST_BODY);
    auto impl = impl_.lock();
    if (!impl) return;
    std::weak_ptr<HttpConn> weak = weak_from_this();
    // A request (headers and body) must arrive in time; a stalled client loses its socket.
    timer_ = impl->loop.after(impl->options.requestTimeout, [weak] {
      if (auto self = weak.lock()) self->close();
    });
  }

  void readMore() {
    auto self = shared_from_this();
    stream_.asyncReadSome(detail::asio::buffer(buf_), [self](const error_code& ec, size_t n) {
      if (self->closed_) return;
      if (ec) return self->close();
      self->pending_.append(self->buf_.data(), n);
      self->parse();
    });
  }

  void parse() {
    while (!parser_->is_done()) {
      if (pending_.empty()) return readMore();
      error_code ec;
      size_t used = parser_->put(detail::asio::buffer(pending_), ec);
      pending_.erase(0, used);
      if (ec == http::error::need_more) return readMore();
      if (ec == http::error::header_limit)
        return sendError(431, "431 Request Header Fields Too Large", false);
      if (ec == http::error::body_limit) return sendError(413, "413 Request Entity Too Large", false);
      if (ec) return sendError(400, "400 Bad Request", false);
    }
    timer_.reset();
    route();
  }

  void route() {
    auto impl = impl_.lock();
    if (!impl || impl->closed) return close();
    auto& msg = parser_->get();
    std::string target(msg.target());
    std::string path = target.substr(0, target.find('?'));
    bool keepAlive = msg.keep_alive();
    if (path == "/ts2021") return upgrade(*impl);
    if (path == "/key") {
      // Go's testcontrol: without ?v= the bare legacy key in hex, else the JSON reply.
      if (queryParam(target, "v").empty()) {
        return respond(200, "text/plain", key::MachinePublic().untypedHex(), keepAlive);
      }
      return respond(200, "application/json", impl->keyJson(), keepAlive);
    }
    if (!impl->options.onHttpRequest)
      return respond(404, "text/plain; charset=utf-8", "404 page not found\n", keepAlive);
    ServerHttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = target;
    for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    req.body = std::move(msg.body());
    std::weak_ptr<HttpConn> weak = weak_from_this();
    auto answered = std::make_shared<bool>(false);
    impl->options.onHttpRequest(
        std::move(req), [weak, answered, keepAlive](int status, std::string contentType, std::string body) {
          if (*answered) return;
          *answered = true;
          if (auto self = weak.lock(); self && !self->closed_)
            self->respond(status, contentType, std::move(body), keepAlive);
        });
  }

  void sendError(int status, std::string_view text, bool keepAlive) {
    // Go's http.Error: text/plain, nosniff, the message and a newline.
    respond(status, "text/plain; charset=utf-8", std::string(text) + "\n", keepAlive,
            "X-Content-Type-Options: nosniff\r\n");
  }

  void respond(int status, std::string_view contentType, std::string body, bool keepAlive,
               std::string_view extraHeaders = "") {
    out_ = "HTTP/1.1 " + std::to_string(status) + " " + reasonPhrase(status) + "\r\n";
    if (!contentType.empty()) out_ += "Content-Type: " + std::string(contentType) + "\r\n";
    out_ += extraHeaders;
    if (status == 204 || status == 304 || status < 200) {
      body.clear();  // no body and no Content-Length (RFC 9110 §8.6)
    } else {
      out_ += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    if (!keepAlive) out_ += "Connection: close\r\n";
    out_ += "\r\n";
    out_ += body;
    auto self = shared_from_this();
    stream_.asyncWrite(detail::asio::buffer(out_), [self, keepAlive](const error_code& ec, size_t) {
      if (self->closed_) return;
      if (ec || !keepAlive) return self->close();
      self->newParser();
      self->parse();
    });
  }

  // controlhttpserver.AcceptHTTP: the checks and their 400 texts, then 101 and the responder.
  void upgrade(Ts2021Server::Impl& impl) {
    auto& msg = parser_->get();
    auto upgradeField = msg[http::field::upgrade];
    std::string next = lower(std::string_view(upgradeField.data(), upgradeField.size()));
    if (next.empty()) return sendError(400, "missing next protocol", false);
    if (next == "websocket") return sendError(400, "websocket upgrade is not supported", false);
    if (next != UPGRADE_VALUE) return sendError(400, "unknown next protocol", false);
    auto hsField = msg[boost::beast::string_view(controlbase::HANDSHAKE_HEADER_NAME.data(),
                                                 controlbase::HANDSHAKE_HEADER_NAME.size())];
    std::string initB64(hsField.data(), hsField.size());
    if (initB64.empty()) return sendError(400, "missing Tailscale handshake header", false);
    auto init = crypto::base64Decode(initB64);
    if (!init) return sendError(400, "invalid tailscale handshake header", false);

    std::string head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + std::string(UPGRADE_VALUE) +
                       "\r\nConnection: upgrade\r\n\r\n";
    Bytes prefix(head.begin(), head.end());
    auto outcome = controlbase::ServerHandshake::accept(impl.options.serverKey, *init);
    if (!outcome.accepted) {
      // Like Go: the 101 is already out when the initiation turns out bad; a malformed one gets
      // a 0x03 error message, a cryptographic failure just the close.
      const auto& refusal = *outcome.refused;
      prefix.insert(prefix.end(), refusal.errorMessage.begin(), refusal.errorMessage.end());
      out_.assign(prefix.begin(), prefix.end());
      auto self = shared_from_this();
      stream_.asyncWrite(detail::asio::buffer(out_), [self](const error_code&, size_t) { self->close(); });
      return;
    }
    auto& accepted = *outcome.accepted;
    prefix.insert(prefix.end(), accepted.response.begin(), accepted.response.end());
    NoisePeer peer{accepted.session.peer(), accepted.session.protocolVersion(), impl.nextConnId++};
    std::string early = impl.options.earlyPayload ? impl.options.earlyPayload(peer) : std::string();
    if (early.size() > controlbase::MAX_EARLY_PAYLOAD_LEN) early.clear();
    // The socket moves to the Noise connection; this HTTP/1.1 connection ends here.
    timer_.reset();
    closed_ = true;
    impl.httpConns.erase(this);
    auto conn = std::make_shared<NoiseConn>(std::move(stream_), std::move(accepted.session), peer,
                                            impl.weak_from_this());
    if (!conn->init(std::move(early))) return;  // conn's destructor closes the socket
    impl.noiseConns[peer.connId] = conn;
    Bytes already(pending_.begin(), pending_.end());
    conn->start(std::move(prefix), std::move(already));
  }

  std::weak_ptr<Ts2021Server::Impl> impl_;
  ByteStream stream_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::array<char, 8192> buf_;
  std::string pending_;
  std::string out_;
  bus::Handle timer_;
  bool closed_ = false;
};

Result<tcp::endpoint> parseListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return Error::invalid("listen address needs a port: " + listen);
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  std::string_view p(listen.data() + colon + 1, listen.size() - colon - 1);
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (p.empty() || ec != std::errc() || end != p.data() + p.size() || port > 65535) {
    return Error::invalid("bad listen port: " + listen);
  }
  error_code aec;
  auto addr = detail::asio::ip::make_address(host, aec);
  if (aec) return Error::invalid("bad listen address: " + listen);
  return tcp::endpoint(addr, static_cast<uint16_t>(port));
}

}  // namespace

void Ts2021Server::Impl::accept() {
  auto weak = weak_from_this();
  acceptor.async_accept([weak](const error_code& ec, tcp::socket socket) {
    auto self = weak.lock();
    if (!self || self->closed) return;
    if (!ec) {
      if (self->connections() >= MAX_SERVER_CONNECTIONS) {
        error_code ignored;
        socket.close(ignored);
      } else {
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto conn = std::make_shared<HttpConn>(weak, std::move(socket));
        self->httpConns[conn.get()] = conn;
        conn->start();
      }
    } else if (ec == detail::asio::error::operation_aborted) {
      return;
    }
    // Other accept errors (EMFILE, ...) are transient: keep accepting.
    self->accept();
  });
}

Result<std::unique_ptr<Ts2021Server>> Ts2021Server::create(bus::Loop& loop, Ts2021ServerOptions options) {
  if (options.serverKey.isZero()) return Error::invalid("ts2021 server: no server key");
  TNET_TRY(auto endpoint, parseListen(options.listen));
  auto impl = std::make_shared<Impl>(loop, std::move(options));
  error_code ec;
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(detail::asio::socket_base::max_listen_connections, ec);
  if (ec) return Error::failed("ts2021 server: listening on " + impl->options.listen + ": " + ec.message());
  impl->accept();
  return std::unique_ptr<Ts2021Server>(new Ts2021Server(std::move(impl)));
}

Ts2021Server::Ts2021Server(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Ts2021Server::~Ts2021Server() {
  impl_->closed = true;
  error_code ec;
  impl_->acceptor.close(ec);
  auto http = std::move(impl_->httpConns);
  for (auto& [p, weak] : http) {
    if (auto c = weak.lock()) c->close();
  }
  auto noise = std::move(impl_->noiseConns);
  for (auto& [id, c] : noise) c->close();
}

uint16_t Ts2021Server::port() const {
  error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

key::MachinePublic Ts2021Server::publicKey() const {
  return impl_->publicKey;
}

size_t Ts2021Server::noiseConnections() const {
  return impl_->noiseConns.size();
}

bool Ts2021Server::closeNoise(uint64_t connId, bool graceful) {
  auto it = impl_->noiseConns.find(connId);
  if (it == impl_->noiseConns.end()) return false;
  auto conn = it->second;
  if (graceful) {
    conn->h2().goAway();
    conn->closeWhenFlushed();
  } else {
    // Abrupt: as if the socket died; writers close and onNoiseClosed runs.
    conn->closeAbruptly();
  }
  return true;
}

}  // namespace tnet::net
