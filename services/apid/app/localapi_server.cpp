// apid's only Asio/Beast translation unit (BUILD-NOTES gotcha 8): the HTTP/1.1 server of the
// LocalAPI. One Connection per accepted socket, all on the bus loop's thread; nothing here
// blocks, so a slow client costs only its own connection. Decisions come from core/request.h.
// clang-format off
#include <utility>  // before Asio (BUILD-NOTES gotcha 9)
// clang-format on

#include "services/apid/app/localapi_server.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <array>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <ctime>
#include <optional>
#include <unordered_map>
#include <vector>

#include "libs/bus/loop_asio.h"
#include "libs/log/log.h"
#include "services/apid/core/limits.h"
#include "services/apid/core/watch_session.h"

namespace tnet::apid {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using Stream = net::local::stream_protocol;
using boost::system::error_code;

class Connection;

// What connections share with the server; kept alive by every connection so that handlers
// finishing after the server object is gone still find it.
struct ServerState {
  ServerState(bus::Loop& l, ServerOptions o, IpndClient& i) : loop(l), options(std::move(o)), ipnd(i) {}
  bus::Loop& loop;
  ServerOptions options;
  IpndClient& ipnd;
  ServerStats stats;
  bool closed = false;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> watchers;
  log::RateLimiter warnLimiter{1.0, 10.0};
  log::RateLimiter writeLogLimiter{5.0, 20.0};
};

std::string httpDate() {
  std::time_t t = std::time(nullptr);
  std::tm g{};
  gmtime_r(&t, &g);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &g);
  return buf;
}

bool isNoBodyStatus(unsigned status) {
  return status < 200 || status == 204 || status == 304;
}

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

constexpr std::string_view CONTINUE_100 = "HTTP/1.1 100 Continue\r\n\r\n";

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ServerState> server, Stream::socket socket, Caller caller)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        buffer_(MAX_HEADER_BYTES + MAX_BODY_BYTES + 64 * 1024),
        caller_(caller) {}

  void start() {
    server_->connections[this] = weak_from_this();
    ++server_->stats.connectionsOpen;
    readHeader();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    timer_.cancel();
    error_code ec;
    socket_.shutdown(Stream::socket::shutdown_both, ec);
    socket_.close(ec);
    dropWatch();
    server_->connections.erase(this);
    --server_->stats.connectionsOpen;
  }

  // ---- watch-ipn-bus -------------------------------------------------------------------------
  void onNotify(uint64_t seq, std::string_view json) {
    if (!watch_) return;
    bool wasBehind = watch_->fellBehind();
    watch_->onEvent(seq, json);
    if (!wasBehind && watch_->fellBehind()) {
      ++server_->stats.watchersFellBehind;
      if (server_->warnLimiter.allow()) {
        log::logger().warn("localapi.watch.fell_behind uid={} pid={} suppressed={}", caller_.uid, caller_.pid,
                           server_->warnLimiter.takeSuppressed());
      }
    }
    pump();
  }

  void endWatch() {
    if (!watch_) return;
    watch_->end();
    pump();
  }

 private:
  // ---- request reading -----------------------------------------------------------------------
  void arm(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec) return;  // cancelled or re-armed
      if (auto self = weak.lock()) {
        ++self->server_->stats.timeouts;
        log::logger().debug("localapi.timeout uid={} pid={}", self->caller_.uid, self->caller_.pid);
        self->close();
      }
    });
  }

  void disarm() { timer_.cancel(); }

  // Between keep-alive requests: wait (idle timeout) for the next byte, then give the client
  // the header timeout to send a whole request head. Bytes already buffered start it at once.
  void awaitNextRequest() {
    if (buffer_.size() > 0) return readHeader();
    arm(server_->options.idleTimeout);
    socket_.async_wait(Stream::socket::wait_read, [self = shared_from_this()](error_code ec) {
      if (self->closed_) return;
      self->disarm();
      if (ec) return self->close();
      self->readHeader();
    });
  }

  void readHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(MAX_HEADER_BYTES));
    parser_->body_limit(MAX_BODY_BYTES);
    arm(server_->options.headerTimeout);
    http::async_read_header(socket_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, size_t) { self->onHeader(ec); });
  }

  void onHeader(error_code ec) {
    if (closed_) return;
    disarm();
    if (ec) return onReadError(ec);
    auto& req = parser_->get();
    if (auto length = parser_->content_length(); length && *length > MAX_BODY_BYTES) {
      return send(bodyTooLarge(), false);
    }
    if (parser_->is_done()) return dispatch();
    auto expect = req[http::field::expect];
    if (!expect.empty() && equalsNoCase({expect.data(), expect.size()}, "100-continue")) {
      arm(server_->options.writeTimeout);
      net::async_write(socket_, net::buffer(CONTINUE_100.data(), CONTINUE_100.size()),
                       [self = shared_from_this()](error_code wec, size_t) {
                         if (self->closed_) return;
                         self->disarm();
                         if (wec) return self->close();
                         self->readBody();
                       });
      return;
    }
    readBody();
  }

  void readBody() {
    arm(server_->options.bodyTimeout);
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) {
      if (self->closed_) return;
      self->disarm();
      if (ec) return self->onReadError(ec);
      self->dispatch();
    });
  }

  void onReadError(error_code ec) {
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return send(headerTooLarge(), false);
    }
    if (ec == http::error::body_limit) return send(bodyTooLarge(), false);
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return send(badRequest(""), false);
    }
    close();  // EOF, reset, or a truncated request: nobody to answer
  }

  // ---- deciding and forwarding ---------------------------------------------------------------
  void dispatch() {
    ++server_->stats.requests;
    auto& req = parser_->get();
    std::vector<HeaderField> headers;
    for (const auto& f : req) {
      auto n = f.name_string();
      auto v = f.value();
      headers.push_back({{n.data(), n.size()}, {v.data(), v.size()}});
    }
    auto method = req.method_string();
    auto target = req.target();
    HttpRequest view{
        {method.data(), method.size()}, {target.data(), target.size()}, req.version(), headers, req.body()};
    keepAlive_ = req.keep_alive();
    version_ = req.version();
    Decision d = decideRequest(view, caller_, server_->options.policy);
    if (auto* r = std::get_if<HttpResponse>(&d)) {
      logRequest(view.method, view.target, r->status);
      return send(std::move(*r), keepAlive_ && !r->close);
    }
    forward(std::get<ForwardRequest>(std::move(d)));
  }

  void forward(ForwardRequest f) {
    ++server_->stats.forwarded;
    if (f.streaming) {
      // Registered before asking ipnd, so no event between its snapshot and our start is lost.
      watch_ = std::make_unique<WatchSession>(f.watchMask, server_->options.policy.version);
      server_->watchers[this] = weak_from_this();
      ++server_->stats.watchersOpen;
    }
    auto shared = std::make_shared<ForwardRequest>(std::move(f));
    server_->ipnd.localApi(*shared, server_->options.ipndDeadline,
                           [self = shared_from_this(), shared](Result<IpndReply> r) {
                             self->onIpndReply(*shared, std::move(r));
                           });
  }

  void onIpndReply(const ForwardRequest& f, Result<IpndReply> r) {
    if (closed_) return;
    const Policy& policy = server_->options.policy;
    if (!r) {
      ++server_->stats.ipndUnavailable;
      if (server_->warnLimiter.allow()) {
        log::logger().warn("localapi.ipnd_unavailable path={} err={} suppressed={}", log::quote(f.path),
                           log::quote(r.error().message), server_->warnLimiter.takeSuppressed());
      }
      dropWatch();
      logRequest(f.method, f.path, 503);
      return send(ipndUnavailable(f, policy, r.error().message), keepAlive_);
    }
    logRequest(f.method, f.path, r->status);
    if (f.streaming && r->status == 200 && watch_) return startStream(*r);
    dropWatch();
    send(responseFromIpnd(f, policy, r->status, r->contentType, r->body), keepAlive_);
  }

  void logRequest(std::string_view method, std::string_view target, unsigned status) {
    // Go logs every non-GET/HEAD LocalAPI call; reads only at debug.
    bool write = method != "GET" && method != "HEAD";
    if (write && server_->writeLogLimiter.allow()) {
      log::logger().info("localapi.request method={} path={} uid={} pid={} status={}", log::quote(method),
                         log::quote(target), caller_.uid, caller_.pid, status);
    } else {
      log::logger().debug("localapi.request method={} path={} uid={} pid={} status={}", log::quote(method),
                          log::quote(target), caller_.uid, caller_.pid, status);
    }
  }

  // ---- responses -----------------------------------------------------------------------------
  void send(HttpResponse r, bool keepAlive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->result(r.status);
    res->version(version_ == 10 ? 10 : 11);
    for (auto& [name, value] : r.headers) res->insert(name, value);
    res->set(http::field::date, httpDate());
    if (!isNoBodyStatus(r.status)) {
      // HEAD: the length the body would have, and no body (as Go's server does).
      res->set(http::field::content_length, std::to_string(r.body.size()));
      if (!r.headOnly) res->body() = std::move(r.body);
    }
    res->keep_alive(keepAlive);
    arm(server_->options.writeTimeout);
    http::async_write(socket_, *res, [self = shared_from_this(), res, keepAlive](error_code ec, size_t) {
      if (self->closed_) return;
      self->disarm();
      if (ec || !keepAlive) return self->close();
      self->awaitNextRequest();
    });
  }

  void startStream(const IpndReply& reply) {
    watch_->start(reply.body, reply.notifySeq);
    HttpResponse head = streamHead(server_->options.policy);
    streamHead_ = std::make_shared<http::response<http::empty_body>>();
    streamHead_->result(head.status);
    streamHead_->version(version_ == 10 ? 10 : 11);
    for (auto& [name, value] : head.headers) streamHead_->insert(name, value);
    streamHead_->set(http::field::date, httpDate());
    // HTTP/1.1: chunked, one chunk per Notify; HTTP/1.0: raw lines until close (as Go).
    chunked_ = version_ != 10;
    if (chunked_) streamHead_->chunked(true);
    streamHead_->keep_alive(false);
    streamSerializer_ = std::make_shared<http::response_serializer<http::empty_body>>(*streamHead_);
    writing_ = true;
    arm(server_->options.writeTimeout);
    http::async_write_header(socket_, *streamSerializer_, [self = shared_from_this()](error_code ec, size_t) {
      if (self->closed_) return;
      self->disarm();
      self->writing_ = false;
      if (ec) return self->close();
      self->streaming_ = true;
      self->watchForHangup();
      self->pump();
    });
  }

  // While streaming nothing more is read from the client except to notice that it left.
  void watchForHangup() {
    socket_.async_read_some(net::buffer(discard_), [self = shared_from_this()](error_code ec, size_t) {
      if (self->closed_) return;
      if (ec) return self->close();
      self->watchForHangup();
    });
  }

  void pump() {
    if (!watch_ || !streaming_ || writing_ || closed_) return;
    auto line = watch_->next();
    if (line) {
      line_ = std::move(*line);
      writing_ = true;
      arm(server_->options.writeTimeout);
      auto done = [self = shared_from_this()](error_code ec, size_t) {
        if (self->closed_) return;
        self->disarm();
        self->writing_ = false;
        if (ec) return self->close();
        self->pump();
      };
      if (chunked_) {
        net::async_write(socket_, http::make_chunk(net::buffer(line_)), std::move(done));
      } else {
        net::async_write(socket_, net::buffer(line_), std::move(done));
      }
      return;
    }
    if (watch_->finished()) {
      if (!chunked_) return close();
      writing_ = true;
      arm(server_->options.writeTimeout);
      net::async_write(socket_, http::make_chunk_last(),
                       [self = shared_from_this()](error_code, size_t) { self->close(); });
    }
  }

  void dropWatch() {
    if (!watch_) return;
    server_->watchers.erase(this);
    --server_->stats.watchersOpen;
    watch_.reset();
  }

  std::shared_ptr<ServerState> server_;
  Stream::socket socket_;
  net::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Caller caller_;
  bool closed_ = false;
  bool keepAlive_ = false;
  unsigned version_ = 11;
  // watch-ipn-bus
  std::unique_ptr<WatchSession> watch_;
  std::shared_ptr<http::response<http::empty_body>> streamHead_;
  std::shared_ptr<http::response_serializer<http::empty_body>> streamSerializer_;
  bool chunked_ = true;
  bool streaming_ = false;
  bool writing_ = false;
  std::string line_;
  std::array<char, 512> discard_{};
};

class ServerImpl final : public LocalApiServer {
 public:
  ServerImpl(bus::Loop& loop, Stream::acceptor acceptor, ServerOptions options, IpndClient& ipnd)
      : state_(std::make_shared<ServerState>(loop, std::move(options), ipnd)),
        acceptor_(std::move(acceptor)),
        retryTimer_(acceptor_.get_executor()) {}

  ~ServerImpl() override { close(); }

  void startAccepting() {
    acceptor_.async_accept([this, state = state_](error_code ec, Stream::socket socket) {
      if (state->closed) return;
      if (ec) {
        // EMFILE and friends: back off briefly instead of spinning on the error.
        if (state->warnLimiter.allow()) {
          log::logger().warn("localapi.accept.failed err={}", log::quote(ec.message()));
        }
        retryTimer_.expires_after(std::chrono::milliseconds(100));
        retryTimer_.async_wait([this, state](error_code wec) {
          if (!wec && !state->closed) startAccepting();
        });
        return;
      }
      onAccepted(std::move(socket));
      startAccepting();
    });
  }

  void onNotify(uint64_t seq, std::string_view json) override {
    for (auto& c : liveWatchers()) c->onNotify(seq, json);
  }

  void endWatches() override {
    for (auto& c : liveWatchers()) c->endWatch();
  }

  void close() override {
    if (state_->closed) return;
    state_->closed = true;
    error_code ec;
    acceptor_.close(ec);
    retryTimer_.cancel();
    std::vector<std::shared_ptr<Connection>> all;
    for (auto& [raw, weak] : state_->connections) {
      if (auto c = weak.lock()) all.push_back(std::move(c));
    }
    for (auto& c : all) c->close();
  }

  const ServerStats& stats() const override { return state_->stats; }

 private:
  std::vector<std::shared_ptr<Connection>> liveWatchers() {
    std::vector<std::shared_ptr<Connection>> out;
    for (auto& [raw, weak] : state_->watchers) {
      if (auto c = weak.lock()) out.push_back(std::move(c));
    }
    return out;
  }

  void onAccepted(Stream::socket socket) {
    ++state_->stats.connectionsAccepted;
    if (state_->connections.size() >= MAX_CONNECTIONS) {
      ++state_->stats.connectionsRefused;
      if (state_->warnLimiter.allow()) {
        log::logger().warn("localapi.connection.refused open={} limit={}", state_->connections.size(),
                           MAX_CONNECTIONS);
      }
      return;  // the socket closes as it goes out of scope
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      // Without credentials we cannot tell who asks; Go treats such peers as read-only, but on
      // Linux this never fails for a connected AF_UNIX socket, so refuse rather than guess.
      return;
    }
    Caller caller{static_cast<uint32_t>(cred.uid), static_cast<uint32_t>(cred.gid),
                  static_cast<uint32_t>(cred.pid)};
    auto c = std::make_shared<Connection>(state_, std::move(socket), caller);
    c->start();
  }

  std::shared_ptr<ServerState> state_;
  Stream::acceptor acceptor_;
  net::steady_timer retryTimer_;
};

}  // namespace

ServerOptions defaultServerOptions(Policy policy) {
  using std::chrono::milliseconds;
  return {std::move(policy),
          milliseconds(IPND_DEADLINE_MS),
          milliseconds(HEADER_READ_TIMEOUT_MS),
          milliseconds(BODY_READ_TIMEOUT_MS),
          milliseconds(IDLE_TIMEOUT_MS),
          milliseconds(WRITE_TIMEOUT_MS)};
}

Result<std::unique_ptr<LocalApiServer>> LocalApiServer::create(bus::Loop& loop, int listenFd,
                                                               ServerOptions options, IpndClient& ipnd) {
  net::io_context& io = bus::ioContext(loop);
  Stream::acceptor acceptor(io);
  error_code ec;
  acceptor.assign(Stream(), listenFd, ec);
  if (ec)
    return Error::failed("cannot use LocalAPI socket fd " + std::to_string(listenFd) + ": " + ec.message());
  auto server = std::make_unique<ServerImpl>(loop, std::move(acceptor), std::move(options), ipnd);
  server->startAccepting();
  return std::unique_ptr<LocalApiServer>(std::move(server));
}

}  // namespace tnet::apid
