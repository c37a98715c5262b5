// The ts2021 client (Asio): Go's controlhttp dial race and upgrade, controlbase over the
// upgraded socket (libs/wire), and HTTP/2 through H2ClientSession.
#include "libs/net/ts2021_client.h"

#include "libs/net/asio_stream.h"
// clang-format off
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
// clang-format on
#include <array>
#include <vector>

#include "libs/bus/loop_asio.h"
#include "libs/log/log.h"
#include "libs/net/h2_client.h"
#include "libs/net/noise_pump.h"
#include "libs/net/url.h"
#include "libs/wire/controlbase.h"

namespace tnet::net {
namespace {

namespace http = boost::beast::http;
using detail::ByteStream;
using detail::error_code;

constexpr std::string_view UPGRADE_PATH = "/ts2021";
constexpr std::string_view UPGRADE_VALUE = "tailscale-control-protocol";

// What a successful attempt hands over: the upgraded socket, the Noise session, and the bytes
// read past the 51-byte handshake response (already transport records).
struct Upgraded {
  ByteStream stream;
  controlbase::Session session;
  Bytes leftover;
  bool tls = false;
  uint16_t port = 0;
};

bool isPrivateHost(const std::string& host) {
  if (host == "localhost") return true;
  error_code ec;
  auto addr = detail::asio::ip::make_address(host, ec);
  if (ec) return false;
  if (addr.is_loopback()) return true;
  if (addr.is_v4()) {
    auto b = addr.to_v4().to_bytes();
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
  }
  auto b = addr.to_v6().to_bytes();
  return (b[0] & 0xfe) == 0xfc;  // fc00::/7
}

// One dial attempt: connect (TLS or not), POST /ts2021 with the initiation, expect 101 with the
// right Upgrade header, then the Noise response.
class Attempt : public std::enable_shared_from_this<Attempt> {
 public:
  using Done = std::function<void(Result<Upgraded>)>;

  Attempt(bus::Loop& loop, std::string host, uint16_t port, std::shared_ptr<detail::asio::ssl::context> tls,
          bool verify, controlbase::ClientHandshake hs, Done done)
      : loop_(loop),
        host_(std::move(host)),
        port_(port),
        tls_(std::move(tls)),
        verify_(verify),
        hs_(std::move(hs)),
        done_(std::move(done)) {
    parser_.header_limit(static_cast<std::uint32_t>(MAX_HTTP1_HEADER_BYTES));
  }

  void start() {
    auto self = shared_from_this();
    dial_ = detail::Dial::start(loop_, host_, port_, tls_, verify_,
                                [self](Result<ByteStream> s) { self->connected(std::move(s)); });
  }

  void cancel() {
    if (dial_) dial_->cancel();
    if (stream_) stream_->close();
    done_ = nullptr;
  }

  bool tls() const { return tls_ != nullptr; }

 private:
  std::string hostPort() const {
    std::string h = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
    return h + ":" + std::to_string(port_);
  }

  void connected(Result<ByteStream> s) {
    dial_.reset();
    if (!done_) {
      if (s) s->close();
      return;
    }
    if (!s) return finish(s.error());
    stream_.emplace(std::move(*s));
    request_ = "POST " + std::string(UPGRADE_PATH) + " HTTP/1.1\r\nHost: " + hostPort() +
               "\r\nUser-Agent: tailnetd/" TNET_VERSION "\r\nContent-Length: 0\r\nUpgrade: " +
               std::string(UPGRADE_VALUE) + "\r\nConnection: upgrade\r\n" +
               std::string(controlbase::HANDSHAKE_HEADER_NAME) + ": " + hs_.initiationHeaderValue() +
               "\r\n\r\n";
    auto self = shared_from_this();
    stream_->asyncWrite(detail::asio::buffer(request_), [self](const error_code& ec, size_t) {
      if (!self->done_) return;
      if (ec) return self->finish(Error::failed("writing the upgrade request: " + detail::describe(ec)));
      self->readMore();
    });
  }

  void readMore() {
    auto self = shared_from_this();
    stream_->asyncReadSome(detail::asio::buffer(buf_), [self](const error_code& ec, size_t n) {
      if (!self->done_) return;
      if (ec) {
        return self->finish(
            Error::failed(std::string(self->headerDone_ ? "reading the Noise response: "
                                                        : "reading the upgrade response: ") +
                          (ec == detail::asio::error::eof ? "connection closed" : detail::describe(ec))));
      }
      self->pending_.insert(self->pending_.end(), self->buf_.begin(), self->buf_.begin() + n);
      self->progress();
    });
  }

  void progress() {
    if (!headerDone_) {
      error_code ec;
      size_t used = parser_.put(detail::asio::buffer(pending_), ec);
      if (ec == http::error::need_more) return readMore();
      if (ec == http::error::header_limit)
        return finish(Error::overloaded("upgrade response header too large"));
      if (ec) return finish(Error::failed("bad upgrade response: " + ec.message()));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(used));
      if (!parser_.is_header_done()) return readMore();
      headerDone_ = true;
      const auto& msg = parser_.get();
      if (msg.result_int() != 101) {
        return finish(Error::failed(
            "unexpected HTTP response: " + std::to_string(msg.result_int()) + " " +
            controlbase::quoteUntrusted(ByteSpan(reinterpret_cast<const uint8_t*>(msg.reason().data()),
                                                 std::min<size_t>(msg.reason().size(), 100)))));
      }
      auto nextField = msg[http::field::upgrade];
      std::string_view next(nextField.data(), nextField.size());
      if (next != UPGRADE_VALUE) {
        return finish(
            Error::failed("server switched to unexpected protocol " +
                          controlbase::quoteUntrusted(ByteSpan(reinterpret_cast<const uint8_t*>(next.data()),
                                                               std::min<size_t>(next.size(), 100)))));
      }
    }
    // Every byte after the 101 header block is Noise (the response may share a read with it).
    auto r = hs_.receive(pending_);
    if (!r) return finish(Error::failed("Noise handshake: " + r.error().message));
    if (!r->session) return readMore();
    Bytes rest(pending_.begin() + static_cast<std::ptrdiff_t>(r->consumed), pending_.end());
    finish(Upgraded{std::move(*stream_), std::move(*r->session), std::move(rest), tls(), port_});
  }

  void finish(Result<Upgraded> r) {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    if (!r && stream_) stream_->close();
    stream_.reset();
    done(std::move(r));
  }

  bus::Loop& loop_;
  std::string host_;
  uint16_t port_;
  std::shared_ptr<detail::asio::ssl::context> tls_;
  bool verify_;
  controlbase::ClientHandshake hs_;
  Done done_;
  std::shared_ptr<detail::Dial> dial_;
  std::optional<ByteStream> stream_;
  std::string request_;
  std::array<uint8_t, 4096> buf_;
  Bytes pending_;
  http::response_parser<http::empty_body> parser_;
  bool headerDone_ = false;
};

class ClientConn;

}  // namespace

struct Ts2021Client::Impl : std::enable_shared_from_this<Impl> {
  enum class State { IDLE, DIALING, HANDSHAKEN, CONNECTED, CLOSED };

  Impl(bus::Loop& l, Ts2021ClientOptions o, Callbacks c)
      : loop(l), options(std::move(o)), callbacks(std::move(c)) {}

  bus::Loop& loop;
  Ts2021ClientOptions options;
  Callbacks callbacks;
  bool dead = false;  // the Ts2021Client is gone: no callback may run
  State state = State::IDLE;
  std::function<void(Result<void>)> connectDone;
  std::string host;
  uint16_t httpPort = 80;
  uint16_t httpsPort = 443;
  std::shared_ptr<Attempt> attempts[2];  // [0] plain HTTP, [1] TLS
  std::optional<Error> attemptErrors[2];
  bus::Handle tlsTimer, dialTimer;
  std::shared_ptr<ClientConn> conn;
  bool closedReported = false;
  Info info;

  void startDial();
  void startAttempt(bool tls);
  void attemptDone(bool tls, Result<Upgraded> r);
  void finishConnect(Result<void> r);
  void afterIo();
  void connFailed(Error e);
  void cancelAttempts();
};

namespace {

class ClientConn : public detail::NoisePump {
 public:
  ClientConn(Upgraded u, std::unique_ptr<H2ClientSession> h2, std::weak_ptr<Ts2021Client::Impl> impl)
      : NoisePump(std::move(u.stream), std::move(u.session)), h2_(std::move(h2)), impl_(std::move(impl)) {}

  H2ClientSession& h2() { return *h2_; }
  bool earlyDecided() const { return early_.done(); }
  const std::optional<controlbase::EarlyNoise>& earlyNoise() const { return early_.earlyNoise(); }
  const std::string& earlyJson() const { return earlyJson_; }

 protected:
  Result<void> onPlaintext(ByteSpan plaintext) override {
    if (!early_.done()) {
      // The reader parses; we keep the raw bytes only to hand the JSON text on (bounded by the
      // reader's 10 MiB limit plus one read).
      earlyRaw_.insert(earlyRaw_.end(), plaintext.begin(), plaintext.end());
      Bytes stream;
      auto r = early_.feed(plaintext, stream);
      if (!r) return Error::failed("early payload: " + r.error().message);
      if (early_.done()) {
        if (early_.earlyNoise() && earlyRaw_.size() >= controlbase::EARLY_HEADER_LEN) {
          uint32_t n = getU32BE(earlyRaw_.data() + controlbase::EARLY_PAYLOAD_MAGIC.size());
          size_t len = std::min<size_t>(n, earlyRaw_.size() - controlbase::EARLY_HEADER_LEN);
          earlyJson_.assign(
              earlyRaw_.begin() + controlbase::EARLY_HEADER_LEN,
              earlyRaw_.begin() + controlbase::EARLY_HEADER_LEN + static_cast<std::ptrdiff_t>(len));
        }
        Bytes().swap(earlyRaw_);
      }
      if (!stream.empty()) return h2_->receive(stream);
      return {};
    }
    return h2_->receive(plaintext);
  }
  void pullPlaintext(Bytes& out, size_t maxBytes) override { h2_->takeOutput(out, maxBytes); }
  void afterIo() override {
    if (auto impl = impl_.lock()) impl->afterIo();
  }
  void onFailed(Error error) override {
    if (auto impl = impl_.lock()) impl->connFailed(std::move(error));
  }

 private:
  std::unique_ptr<H2ClientSession> h2_;
  std::weak_ptr<Ts2021Client::Impl> impl_;
  controlbase::EarlyPayloadReader early_;
  Bytes earlyRaw_;
  std::string earlyJson_;
};

}  // namespace

void Ts2021Client::Impl::startDial() {
  auto url = parseUrl(options.controlUrl);
  if (!url) return finishConnect(url.error());
  if (options.capver == 0) return finishConnect(Error::invalid("ts2021: capver is 0"));
  if (options.machineKey.isZero()) return finishConnect(Error::invalid("ts2021: no machine key"));
  if (options.controlPublic.isZero()) return finishConnect(Error::invalid("ts2021: no control public key"));
  host = url->host;
  // Go's ts2021.NewClient + controlhttp.Dialer port rules (docs/net.md).
  bool haveHttps = true;
  if (url->explicitPort) {
    if (url->tls) {
      httpsPort = url->port;
    } else {
      httpPort = url->port;
      haveHttps = !isPrivateHost(url->host);
    }
  } else if (!url->tls && isPrivateHost(url->host)) {
    haveHttps = false;
  }
  if (options.httpPort) httpPort = options.httpPort;
  if (options.httpsPort) {
    httpsPort = options.httpsPort;
    haveHttps = true;
  }
  state = State::DIALING;
  auto weak = weak_from_this();
  dialTimer = loop.after(options.dialTimeout, [weak] {
    if (auto self = weak.lock()) self->finishConnect(Error::failed("ts2021: dial timed out"));
  });
  bool forceTls = options.forceTls && haveHttps;
  if (forceTls) {
    attemptErrors[0] = Error::failed("TLS forced: no port 80 dialed");
  } else {
    startAttempt(false);
  }
  if (!haveHttps) {
    attemptErrors[1] = Error::failed("no HTTPS port for this control URL");
  } else if (forceTls) {
    startAttempt(true);
  } else {
    tlsTimer = loop.after(options.httpsFallbackDelay, [weak] {
      if (auto self = weak.lock()) self->startAttempt(true);
    });
  }
}

void Ts2021Client::Impl::startAttempt(bool tls) {
  if (state != State::DIALING || attempts[tls] || attemptErrors[tls]) return;
  if (tls) tlsTimer.reset();
  std::shared_ptr<detail::asio::ssl::context> ctx;
  if (tls) {
    auto c = detail::makeClientTlsContext({options.extraCaFile, false, options.verifyTls});
    if (!c) return attemptDone(true, c.error());
    ctx = *c;
  }
  auto hs = controlbase::ClientHandshake::start(options.machineKey, options.controlPublic, options.capver);
  if (!hs) return attemptDone(tls, hs.error());
  auto weak = weak_from_this();
  attempts[tls] = std::make_shared<Attempt>(loop, host, tls ? httpsPort : httpPort, ctx, options.verifyTls,
                                            std::move(*hs), [weak, tls](Result<Upgraded> r) {
                                              if (auto self = weak.lock())
                                                self->attemptDone(tls, std::move(r));
                                            });
  attempts[tls]->start();
}

void Ts2021Client::Impl::attemptDone(bool tls, Result<Upgraded> r) {
  attempts[tls].reset();
  if (state != State::DIALING) {
    if (r) r->stream.close();
    return;
  }
  if (!r) {
    attemptErrors[tls] = r.error();
    // Plain HTTP failed: maybe a proxy in the way; try TLS now rather than after the delay.
    if (!tls && tlsTimer) {
      auto weak = weak_from_this();
      loop.post([weak] {
        if (auto self = weak.lock()) self->startAttempt(true);
      });
      tlsTimer.reset();
    }
    if (attemptErrors[0] && attemptErrors[1]) {
      finishConnect(Error::failed("all connection attempts failed (HTTP: " + attemptErrors[0]->message +
                                  ", HTTPS: " + attemptErrors[1]->message + ")"));
    }
    return;
  }
  // The first success wins; the other attempt is abandoned.
  cancelAttempts();
  state = State::HANDSHAKEN;
  info.viaTls = r->tls;
  info.port = r->port;
  std::string authority = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  auto h2 = H2ClientSession::create(authority);
  if (!h2) {
    r->stream.close();
    return finishConnect(h2.error());
  }
  Bytes leftover = std::move(r->leftover);
  conn = std::make_shared<ClientConn>(std::move(*r), std::move(*h2), weak_from_this());
  conn->start({}, std::move(leftover));
}

void Ts2021Client::Impl::cancelAttempts() {
  tlsTimer.reset();
  for (auto& a : attempts) {
    if (a) a->cancel();
    a.reset();
  }
}

void Ts2021Client::Impl::finishConnect(Result<void> r) {
  if (!connectDone) return;
  dialTimer.reset();
  cancelAttempts();
  if (r) {
    state = State::CONNECTED;
  } else {
    state = State::CLOSED;
    closedReported = true;  // a failed connect is reported through done, not onClosed
    if (conn) conn->close();
  }
  auto done = std::move(connectDone);
  connectDone = nullptr;
  auto self = shared_from_this();
  loop.post([self, done = std::move(done), r = std::move(r)] {
    if (!self->dead) done(r);
  });
}

void Ts2021Client::Impl::afterIo() {
  if (dead || !conn) return;
  auto self = shared_from_this();
  auto c = conn;
  if (state == State::HANDSHAKEN && c->earlyDecided()) {
    if (c->earlyNoise() && callbacks.onEarlyPayload) {
      callbacks.onEarlyPayload(*c->earlyNoise(), c->earlyJson());
      if (dead || conn != c) return;
    }
    finishConnect({});
  }
  c->h2().runEvents([self, c] { return !self->dead && self->conn == c; });
  if (dead || conn != c) return;
  if (state == State::CONNECTED && !closedReported) {
    if (auto goAway = c->h2().goAwayReceived()) {
      // No new requests on this connection; streams it already accepted may still finish.
      closedReported = true;
      state = State::CLOSED;
      if (callbacks.onClosed) callbacks.onClosed(*goAway);
      if (dead || conn != c) return;
    }
  }
  if (!c->h2().alive()) {
    c->close();
    return;
  }
  c->flush();
}

void Ts2021Client::Impl::connFailed(Error e) {
  if (dead) return;
  auto self = shared_from_this();
  if (state == State::HANDSHAKEN) return finishConnect(e);
  auto c = conn;
  if (!c) return;
  c->h2().failAll(e);
  c->h2().runEvents([self, c] { return !self->dead && self->conn == c; });
  if (dead || conn != c) return;
  state = State::CLOSED;
  if (!closedReported) {
    closedReported = true;
    if (callbacks.onClosed) callbacks.onClosed(std::move(e));
  }
}

std::unique_ptr<Ts2021Client> Ts2021Client::create(bus::Loop& loop, Ts2021ClientOptions options,
                                                   Callbacks callbacks) {
  return std::unique_ptr<Ts2021Client>(
      new Ts2021Client(std::make_shared<Impl>(loop, std::move(options), std::move(callbacks))));
}

Ts2021Client::Ts2021Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Ts2021Client::~Ts2021Client() {
  impl_->dead = true;
  impl_->connectDone = nullptr;
  impl_->dialTimer.reset();
  impl_->cancelAttempts();
  if (impl_->conn) impl_->conn->close();
}

void Ts2021Client::connect(std::function<void(Result<void>)> done) {
  assert(impl_->state == Impl::State::IDLE && "Ts2021Client::connect called twice");
  impl_->connectDone = std::move(done);
  impl_->startDial();
}

namespace {

// A unary request's state: the response so far, the timeout, and done-once.
struct Unary {
  std::function<void(Result<H2Response>)> done;
  H2Response response;
  size_t maxBody = 0;
  bus::Handle timer;
  void finish(Result<H2Response> r) {
    if (!done) return;
    timer.reset();
    auto d = std::move(done);
    done = nullptr;
    d(std::move(r));
  }
};

}  // namespace

void Ts2021Client::request(H2Request req, std::chrono::milliseconds timeout,
                           std::function<void(Result<H2Response>)> done) {
  auto& impl = *impl_;
  auto fail = [&](Error e) {
    impl.loop.post([self = impl_, done = std::move(done), e = std::move(e)] {
      if (!self->dead) done(e);
    });
  };
  if (impl.state != Impl::State::CONNECTED || !impl.conn || !impl.conn->isOpen()) {
    return fail(Error::disconnected("ts2021: not connected"));
  }
  auto u = std::make_shared<Unary>();
  u->done = std::move(done);
  u->maxBody = impl.options.maxResponseBody;
  std::weak_ptr<ClientConn> weakConn = impl.conn;
  auto streamId = std::make_shared<int32_t>(0);
  H2ClientSession::StreamEvents ev;
  ev.onHeaders = [u](int status, const HeaderList& headers) {
    u->response.status = status;
    u->response.headers = headers;
  };
  ev.onData = [u, weakConn, streamId](std::span<const uint8_t> d) {
    if (!u->done) return;
    if (u->response.body.size() + d.size() > u->maxBody) {
      if (auto c = weakConn.lock()) c->h2().cancel(*streamId);
      return u->finish(
          Error::overloaded("ts2021: response body over " + std::to_string(u->maxBody) + " bytes"));
    }
    u->response.body.append(reinterpret_cast<const char*>(d.data()), d.size());
  };
  ev.onClose = [u](Result<void> r) {
    if (!r) return u->finish(r.error());
    u->finish(std::move(u->response));
  };
  auto id = impl.conn->h2().submit(req, std::move(ev));
  if (!id) {
    auto d = std::move(u->done);
    done = std::move(d);
    return fail(id.error());
  }
  *streamId = *id;
  // Weak: u owns the timer, so a strong capture would be a cycle that outlives the client.
  std::weak_ptr<Unary> weakU = u;
  u->timer = impl.loop.after(timeout, [weakU, weakConn, streamId] {
    auto u = weakU.lock();
    if (!u) return;
    if (auto c = weakConn.lock()) {
      c->h2().cancel(*streamId);
      c->flush();
    }
    u->finish(Error::failed("ts2021: request timed out"));
  });
  impl.conn->flush();
}

StreamHandle Ts2021Client::stream(H2Request req, std::function<void(int, const HeaderList&)> onHeaders,
                                  std::function<void(std::span<const uint8_t>)> onData,
                                  std::function<void(Result<void>)> onEnd) {
  auto& impl = *impl_;
  auto live = std::make_shared<bool>(true);
  auto failLater = [&](Error e) {
    impl.loop.post([self = impl_, live, onEnd = std::move(onEnd), e = std::move(e)] {
      if (!self->dead && *live) onEnd(e);
    });
    return StreamHandle([live] { *live = false; });
  };
  if (impl.state != Impl::State::CONNECTED || !impl.conn || !impl.conn->isOpen()) {
    return failLater(Error::disconnected("ts2021: not connected"));
  }
  H2ClientSession::StreamEvents ev;
  ev.onHeaders = [live, f = std::move(onHeaders)](int status, const HeaderList& h) {
    if (*live && f) f(status, h);
  };
  ev.onData = [live, f = std::move(onData)](std::span<const uint8_t> d) {
    if (*live && f) f(d);
  };
  auto endFn = std::make_shared<std::function<void(Result<void>)>>(std::move(onEnd));
  ev.onClose = [live, endFn](Result<void> r) {
    if (!*live) return;
    *live = false;
    if (*endFn) (*endFn)(std::move(r));
  };
  auto id = impl.conn->h2().submit(req, std::move(ev));
  if (!id) {
    onEnd = std::move(*endFn);
    return failLater(id.error());
  }
  impl.conn->flush();
  std::weak_ptr<ClientConn> weakConn = impl.conn;
  return StreamHandle([live, weakConn, streamId = *id] {
    if (!*live) return;
    *live = false;
    if (auto c = weakConn.lock(); c && c->isOpen()) {
      c->h2().cancel(streamId);
      c->flush();
    }
  });
}

bool Ts2021Client::connected() const {
  return impl_->state == Impl::State::CONNECTED && impl_->conn && impl_->conn->isOpen() &&
         !impl_->conn->h2().goAwayReceived();
}

void Ts2021Client::close() {
  auto& impl = *impl_;
  impl.closedReported = true;  // the owner asked: no onClosed
  if (impl.connectDone) impl.finishConnect(Error::disconnected("ts2021: closed"));
  impl.dialTimer.reset();
  impl.cancelAttempts();
  impl.state = Impl::State::CLOSED;
  auto c = impl.conn;
  if (!c) return;
  if (c->isOpen()) {
    c->h2().goAway();
    c->flush();  // GOAWAY goes out before the socket closes
    c->closeWhenFlushed();
  }
  c->h2().failAll(Error::disconnected("ts2021: closed"));
  impl.loop.post(
      [self = impl_, c] { c->h2().runEvents([self, c] { return !self->dead && self->conn == c; }); });
}

Ts2021Client::Info Ts2021Client::info() const {
  return impl_->info;
}

}  // namespace tnet::net
