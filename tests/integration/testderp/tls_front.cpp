#include "tests/integration/testderp/tls_front.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace tnet::testderp {

namespace {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

// A fresh P-256 key and a self-signed certificate for `name`, valid for a day.
Result<std::unique_ptr<SSL_CTX, SslCtxDeleter>> makeContext(const std::string& name, Bytes& derOut) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) return Error::failed("key generation failed");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, subject);
  bool ok = X509_sign(cert, key, EVP_sha256()) > 0;
  unsigned char* der = nullptr;
  int len = ok ? i2d_X509(cert, &der) : -1;
  if (len > 0) derOut.assign(der, der + len);
  OPENSSL_free(der);
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_server_method()));
  ok = ok && len > 0 && ctx && SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) == 1 &&
       SSL_CTX_use_certificate(ctx.get(), cert) == 1 && SSL_CTX_use_PrivateKey(ctx.get(), key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return Error::failed("TLS context setup failed");
  return ctx;
}

int connectBackend(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool sendAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

}  // namespace

struct TlsFront::Impl {
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx;
  Bytes der;
  int listenFd = -1;
  int stopFd = -1;
  uint16_t backendPort = 0;
  std::thread acceptThread;
  std::mutex mu;
  std::vector<std::thread> conns;
  bool stopped = false;

  void acceptLoop() {
    for (;;) {
      pollfd p[2] = {{listenFd, POLLIN, 0}, {stopFd, POLLIN, 0}};
      if (poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents) return;
      int fd = accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu);
      conns.emplace_back([this, fd] { shuttle(fd); });
    }
  }

  // One client: TLS on `fd`, plain bytes to the DERP listener. Only this thread touches the SSL.
  void shuttle(int fd) {
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);  // bounds the handshake
    SSL* ssl = SSL_new(ctx.get());
    SSL_set_fd(ssl, fd);
    int back = -1;
    if (SSL_accept(ssl) == 1) {
      tv = {0, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      back = connectBackend(backendPort);
    }
    std::vector<uint8_t> buf(16384);
    while (back >= 0) {
      if (SSL_pending(ssl) == 0) {
        pollfd p[3] = {{fd, POLLIN, 0}, {back, POLLIN, 0}, {stopFd, POLLIN, 0}};
        if (poll(p, 3, -1) < 0) {
          if (errno == EINTR) continue;
          break;
        }
        if (p[2].revents) break;
        if (p[1].revents) {
          ssize_t n = recv(back, buf.data(), buf.size(), MSG_DONTWAIT);
          if (n == 0 || (n < 0 && errno != EAGAIN)) break;
          if (n > 0 && SSL_write(ssl, buf.data(), int(n)) <= 0) break;
        }
        if (!p[0].revents) continue;
      }
      int n = SSL_read(ssl, buf.data(), int(buf.size()));
      if (n <= 0) break;
      if (!sendAll(back, buf.data(), size_t(n))) break;
    }
    if (back >= 0) close(back);
    SSL_free(ssl);
    close(fd);
  }
};

TlsFront::TlsFront(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<TlsFront>> TlsFront::start(const std::string& host, uint16_t port,
                                                  uint16_t backendPort, const std::string& certName) {
  // OpenSSL writes the socket with write(2): a client that hung up must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  auto impl = std::make_unique<Impl>();
  TNET_TRY(impl->ctx, makeContext(certName, impl->der));
  impl->backendPort = backendPort;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1)
    return Error::invalid("TLS listen host must be IPv4");
  impl->listenFd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(impl->listenFd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(impl->listenFd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      listen(impl->listenFd, 64) != 0) {
    close(impl->listenFd);
    return Error::failed(std::string("TLS listen: ") + std::strerror(errno));
  }
  impl->stopFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  auto* raw = impl.get();
  raw->acceptThread = std::thread([raw] { raw->acceptLoop(); });
  return std::unique_ptr<TlsFront>(new TlsFront(std::move(impl)));
}

TlsFront::~TlsFront() {
  stop();
}

void TlsFront::stop() {
  auto& m = *impl_;
  {
    std::lock_guard lock(m.mu);
    if (m.stopped) return;
    m.stopped = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto w = write(m.stopFd, &one, sizeof one);
  m.acceptThread.join();
  std::vector<std::thread> conns;
  {
    std::lock_guard lock(m.mu);
    conns.swap(m.conns);
  }
  for (auto& t : conns) t.join();
  close(m.listenFd);
  close(m.stopFd);
}

uint16_t TlsFront::port() const {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(impl_->listenFd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

const Bytes& TlsFront::certDer() const {
  return impl_->der;
}

std::string TlsFront::certPin() const {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(impl_->der.data(), impl_->der.size(), md, &len, EVP_sha256(), nullptr);
  return "sha256-raw:" + hexEncode(ByteSpan(md, len));
}

}  // namespace tnet::testderp
