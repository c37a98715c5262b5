// libs/net's TCP/TLS dialer (Asio, OpenSSL).
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/error.hpp>

#include "libs/bus/loop_asio.h"
#include "libs/net/asio_stream.h"

namespace tnet::net::detail {

std::string describe(const error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    // OpenSSL's reason string ("certificate verify failed", ...).
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
    return std::string("TLS: ") + buf;
  }
  return ec.message();
}

Result<std::shared_ptr<asio::ssl::context>> makeClientTlsContext(const TlsOptions& options) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
    return Error::failed("TLS: cannot require TLS 1.2");
  error_code ec;
  if (!options.noSystemCa) {
    ctx->set_default_verify_paths(ec);
    if (ec) return Error::failed("TLS: loading the system CA store: " + describe(ec));
  }
  if (!options.extraCaFile.empty()) {
    ctx->load_verify_file(options.extraCaFile, ec);
    if (ec) return Error::failed("TLS: loading CA file " + options.extraCaFile + ": " + describe(ec));
  }
  ctx->set_verify_mode(options.verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
  return ctx;
}

Dial::Dial(bus::Loop& loop, std::string host, uint16_t port, std::shared_ptr<asio::ssl::context> tls,
           bool verify, Done done)
    : loop_(loop),
      host_(std::move(host)),
      port_(port),
      tlsContext_(std::move(tls)),
      verify_(verify),
      done_(std::move(done)),
      resolver_(bus::ioContext(loop)),
      socket_(bus::ioContext(loop)) {}

std::shared_ptr<Dial> Dial::start(bus::Loop& loop, std::string host, uint16_t port,
                                  std::shared_ptr<asio::ssl::context> tls, bool verify, Done done) {
  auto d = std::make_shared<Dial>(loop, std::move(host), port, std::move(tls), verify, std::move(done));
  d->resolver_.async_resolve(
      d->host_, std::to_string(port), tcp::resolver::numeric_service,
      [d](const error_code& ec, const tcp::resolver::results_type& r) { d->resolved(ec, r); });
  return d;
}

void Dial::cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  resolver_.cancel();
  error_code ec;
  socket_.close(ec);
  if (tls_) tls_->next_layer().close(ec);
}

void Dial::resolved(const error_code& ec, const tcp::resolver::results_type& results) {
  if (cancelled_) return finish(Error::failed("dial cancelled"));
  if (ec) return finish(Error::failed("resolving " + host_ + ": " + describe(ec)));
  auto self = shared_from_this();
  asio::async_connect(socket_, results,
                      [self](const error_code& e, const tcp::endpoint&) { self->connected(e); });
}

void Dial::connected(const error_code& ec) {
  if (cancelled_) return finish(Error::failed("dial cancelled"));
  if (ec)
    return finish(
        Error::failed("connecting to " + host_ + ":" + std::to_string(port_) + ": " + describe(ec)));
  error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  if (!tlsContext_) return finish(ByteStream(std::move(socket_)));

  tls_ = std::make_unique<TlsStream>(std::move(socket_), *tlsContext_);
  SSL* ssl = tls_->native_handle();
  error_code addrEc;
  auto addr = asio::ip::make_address(host_, addrEc);
  if (addrEc) {
    // SNI only for names (RFC 6066 forbids IP literals), and the name must match the certificate.
    SSL_set_tlsext_host_name(ssl, host_.c_str());
    if (verify_ && SSL_set1_host(ssl, host_.c_str()) != 1) return finish(Error::failed("TLS: bad host name"));
  } else if (verify_) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), addr.to_string().c_str());
  }
  auto self = shared_from_this();
  tls_->async_handshake(asio::ssl::stream_base::client, [self](const error_code& e) {
    if (self->cancelled_) return self->finish(Error::failed("dial cancelled"));
    if (e) {
      std::string why = describe(e);
      long verify = SSL_get_verify_result(self->tls_->native_handle());
      if (verify != X509_V_OK) why += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
      return self->finish(Error::failed("TLS handshake with " + self->host_ + ": " + why));
    }
    self->finish(ByteStream(std::move(self->tls_)));
  });
}

void Dial::finish(Result<ByteStream> r) {
  if (!done_) return;
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(r));
}

}  // namespace tnet::net::detail
