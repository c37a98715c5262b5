// Internal to libs/net (Asio): a byte stream that is plain TCP or TLS over TCP, and the dialer
// that produces one. Include only from libs/net's Asio translation units (BUILD-NOTES 8).
#pragma once

// clang-format off
#include <utility>  // before Asio (BUILD-NOTES gotcha 9)
// clang-format on

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "libs/base/result.h"
#include "libs/bus/loop.h"

namespace tnet::net::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using TlsStream = asio::ssl::stream<tcp::socket>;

class ByteStream {
 public:
  explicit ByteStream(tcp::socket s) : plain_(std::move(s)) {}
  explicit ByteStream(std::unique_ptr<TlsStream> tls) : tls_(std::move(tls)) {}
  ByteStream(ByteStream&&) = default;
  ByteStream& operator=(ByteStream&&) = default;

  bool isTls() const { return tls_ != nullptr; }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

  template <typename Buffers, typename Handler>
  void asyncReadSome(const Buffers& b, Handler&& h) {
    if (tls_) {
      tls_->async_read_some(b, std::forward<Handler>(h));
    } else {
      plain_->async_read_some(b, std::forward<Handler>(h));
    }
  }
  template <typename Buffers, typename Handler>
  void asyncWrite(const Buffers& b, Handler&& h) {
    if (tls_) {
      asio::async_write(*tls_, b, std::forward<Handler>(h));
    } else {
      asio::async_write(*plain_, b, std::forward<Handler>(h));
    }
  }
  // Closes the socket at once (pending operations complete with operation_aborted). No TLS
  // close_notify: every protocol here frames its own end.
  void close() {
    error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

 private:
  std::optional<tcp::socket> plain_;
  std::unique_ptr<TlsStream> tls_;
};

struct TlsOptions {
  std::string extraCaFile;  // PEM, trusted in addition to (or, with noSystemCa, instead of) the system store
  bool noSystemCa = false;
  bool verify = true;  // false: any certificate (Go's ts2021 443 path); TLS 1.2+ either way
};

// A TLS client context: TLS 1.2 minimum, the system CA store and/or extraCaFile.
Result<std::shared_ptr<asio::ssl::context>> makeClientTlsContext(const TlsOptions& options);

// Resolves host, connects (each address in turn), and for TLS does the handshake with SNI (for
// names) and host name / IP verification. `done` runs once, on the loop. cancel() aborts;
// `done` then still runs with an error.
class Dial : public std::enable_shared_from_this<Dial> {
 public:
  using Done = std::function<void(Result<ByteStream>)>;
  static std::shared_ptr<Dial> start(bus::Loop& loop, std::string host, uint16_t port,
                                     std::shared_ptr<asio::ssl::context> tls, bool verify, Done done);
  void cancel();

  Dial(bus::Loop& loop, std::string host, uint16_t port, std::shared_ptr<asio::ssl::context> tls, bool verify,
       Done done);

 private:
  void resolved(const error_code& ec, const tcp::resolver::results_type& results);
  void connected(const error_code& ec);
  void finish(Result<ByteStream> r);

  bus::Loop& loop_;
  std::string host_;
  uint16_t port_;
  std::shared_ptr<asio::ssl::context> tlsContext_;
  bool verify_;
  Done done_;
  tcp::resolver resolver_;
  tcp::socket socket_;
  std::unique_ptr<TlsStream> tls_;
  bool cancelled_ = false;
};

std::string describe(const error_code& ec);

}  // namespace tnet::net::detail
