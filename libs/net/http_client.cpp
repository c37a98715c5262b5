// httpGet and fetchServerKey (Asio + Beast's parser; Beast does the HTTP/1.1 parsing, we only
// move bytes).
#include "libs/net/http_client.h"

#include "libs/net/asio_stream.h"
// clang-format off
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
// clang-format on
#include <array>

#include "libs/net/url.h"

namespace tnet::net {
namespace {

namespace http = boost::beast::http;
using detail::ByteStream;
using detail::error_code;

class GetOp : public std::enable_shared_from_this<GetOp> {
 public:
  GetOp(bus::Loop& loop, Url url, HttpClientOptions options, std::function<void(Result<HttpResponse>)> done)
      : loop_(loop), url_(std::move(url)), options_(std::move(options)), done_(std::move(done)) {
    parser_.header_limit(static_cast<std::uint32_t>(MAX_HTTP1_HEADER_BYTES));
    parser_.body_limit(options_.maxBody);
  }

  void start() {
    auto self = shared_from_this();
    // Weak: the pending socket operations keep us alive; a strong capture would be a cycle.
    std::weak_ptr<GetOp> weak = self;
    timer_ = loop_.after(options_.timeout, [weak] {
      if (auto op = weak.lock()) op->finish(Error::failed("HTTP request timed out"));
    });
    std::shared_ptr<detail::asio::ssl::context> tls;
    if (url_.tls) {
      auto ctx = detail::makeClientTlsContext({options_.extraCaFile, options_.noSystemCa, true});
      if (!ctx) return finish(ctx.error());
      tls = *ctx;
    }
    dial_ = detail::Dial::start(loop_, url_.host, url_.port, tls, true,
                                [self](Result<ByteStream> s) { self->connected(std::move(s)); });
  }

 private:
  void connected(Result<ByteStream> s) {
    dial_.reset();
    if (finished_) {
      if (s) s->close();
      return;
    }
    if (!s) return finish(s.error());
    stream_.emplace(std::move(*s));
    request_ = "GET " + url_.target + " HTTP/1.1\r\nHost: " + url_.hostHeader() +
               "\r\nUser-Agent: tailnetd/" TNET_VERSION "\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    auto self = shared_from_this();
    stream_->asyncWrite(detail::asio::buffer(request_), [self](const error_code& ec, size_t) {
      if (self->finished_) return;
      if (ec) return self->finish(Error::failed("HTTP write: " + detail::describe(ec)));
      self->readMore();
    });
  }

  void readMore() {
    auto self = shared_from_this();
    stream_->asyncReadSome(detail::asio::buffer(readBuf_), [self](const error_code& ec, size_t n) {
      if (self->finished_) return;
      if (ec == detail::asio::error::eof || ec == detail::asio::ssl::error::stream_truncated) {
        error_code pe;
        self->parser_.put_eof(pe);
        if (pe) return self->finish(Error::failed("HTTP: connection closed mid-response"));
        return self->complete();
      }
      if (ec) return self->finish(Error::failed("HTTP read: " + detail::describe(ec)));
      self->pending_.append(self->readBuf_.data(), n);
      self->parse();
    });
  }

  void parse() {
    while (!pending_.empty() && !parser_.is_done()) {
      error_code ec;
      size_t used = parser_.put(detail::asio::buffer(pending_), ec);
      pending_.erase(0, used);
      if (ec == http::error::need_more) break;
      if (ec == http::error::body_limit)
        return finish(Error::overloaded("HTTP response body over the limit"));
      if (ec == http::error::header_limit)
        return finish(Error::overloaded("HTTP response header over the limit"));
      if (ec) return finish(Error::invalid("HTTP response: " + ec.message()));
      if (used == 0) break;
    }
    if (parser_.is_done()) return complete();
    readMore();
  }

  void complete() {
    auto& msg = parser_.get();
    HttpResponse r;
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.body = std::move(msg.body());
    finish(std::move(r));
  }

  void finish(Result<HttpResponse> r) {
    if (finished_) return;
    finished_ = true;
    timer_.reset();
    if (dial_) dial_->cancel();
    if (stream_) stream_->close();
    // Never inside httpGet itself, and never inside an Asio handler that still touches us.
    loop_.post([done = std::move(done_), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  bus::Loop& loop_;
  Url url_;
  HttpClientOptions options_;
  std::function<void(Result<HttpResponse>)> done_;
  bus::Handle timer_;
  std::shared_ptr<detail::Dial> dial_;
  std::optional<ByteStream> stream_;
  std::string request_;
  std::array<char, 16384> readBuf_;
  std::string pending_;
  http::response_parser<http::string_body> parser_;
  bool finished_ = false;
};

}  // namespace

void httpGet(bus::Loop& loop, std::string url, HttpClientOptions options,
             std::function<void(Result<HttpResponse>)> done) {
  auto u = parseUrl(url);
  if (!u) {
    loop.post([done = std::move(done), e = u.error()] { done(e); });
    return;
  }
  std::make_shared<GetOp>(loop, std::move(*u), std::move(options), std::move(done))->start();
}

void fetchServerKey(bus::Loop& loop, std::string controlUrl, uint16_t capver, HttpClientOptions options,
                    std::function<void(Result<controlbase::ServerKeys>)> done) {
  while (!controlUrl.empty() && controlUrl.back() == '/') controlUrl.pop_back();
  options.maxBody = controlbase::MAX_KEY_RESPONSE_LEN;
  httpGet(loop, controlUrl + "/key?v=" + std::to_string(capver), std::move(options),
          [done = std::move(done)](Result<HttpResponse> r) {
            if (!r) return done(r.error());
            if (r->status != 200) {
              return done(Error::failed("GET /key: HTTP status " + std::to_string(r->status)));
            }
            done(controlbase::parseServerKeyResponse(
                ByteSpan(reinterpret_cast<const uint8_t*>(r->body.data()), r->body.size())));
          });
}

}  // namespace tnet::net
