// TLS: httpGet with a test CA (trusted, wrong, wrong name) and the ts2021 dial race over TLS.
// The TLS side is a small blocking OpenSSL proxy on a thread that terminates TLS and forwards
// to a Ts2021Server; certificates are made by the openssl CLI in a temporary directory.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "libs/ipn/capver.h"
#include "libs/net/http_client.h"
#include "libs/net/net_test_util.h"
#include "libs/net/ts2021_client.h"
#include "libs/net/ts2021_server.h"

namespace tnet::net {
namespace {

using namespace std::chrono_literals;
using testing::RawListener;
using testing::RawSocket;
using testing::runUntil;

constexpr uint16_t CAPVER = static_cast<uint16_t>(ipn::CAPABILITY_VERSION);

// A CA and a server certificate signed by it, plus an unrelated CA.
class Pki {
 public:
  Pki() {
    char tmpl[] = "/tmp/tnet-net-tls-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    dir_ = tmpl;
  }
  ~Pki() { std::filesystem::remove_all(dir_); }

  // Makes ca.pem/ca.key, other-ca.pem, and server certs for `sanIp` (IP:127.0.0.1,DNS:localhost)
  // and a wrong-name one (DNS:other.example). False if openssl is missing or fails.
  bool make() {
    std::string d = dir_;
    auto run = [&](const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; };
    auto ca = [&](const std::string& name) {
      return run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=" +
                 name + " -keyout " + d + "/" + name + ".key -out " + d + "/" + name + ".pem");
    };
    auto leaf = [&](const std::string& name, const std::string& san) {
      std::ofstream(d + "/" + name + ".ext") << "subjectAltName=" << san << "\nbasicConstraints=CA:FALSE\n";
      return run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=" + name +
                 " -keyout " + d + "/" + name + ".key -out " + d + "/" + name + ".csr") &&
             run("openssl x509 -req -days 2 -in " + d + "/" + name + ".csr -CA " + d + "/ca.pem -CAkey " + d +
                 "/ca.key -CAcreateserial -extfile " + d + "/" + name + ".ext -out " + d + "/" + name +
                 ".pem");
    };
    return ca("ca") && ca("other-ca") && leaf("server", "IP:127.0.0.1,DNS:localhost") &&
           leaf("wrongname", "DNS:other.example");
  }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }

 private:
  std::string dir_;
};

// Terminates TLS on a loopback port and forwards each connection to a backend port.
class TlsProxy {
 public:
  TlsProxy(const std::string& cert, const std::string& key, uint16_t backend) : backend_(backend) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~TlsProxy() {
    stop_ = true;
    acceptor_.join();
    for (auto& t : conns_) t.join();
    SSL_CTX_free(ctx_);
  }
  uint16_t port() const { return listener_.port(); }
  int handshakes() const { return handshakes_; }
  // When the first TCP connection arrived (steady clock), or the epoch if none has.
  std::chrono::steady_clock::time_point firstAccept() const { return firstAccept_.load(); }

 private:
  void acceptLoop() {
    while (!stop_) {
      RawSocket s = listener_.accept(50ms);
      if (!s.ok()) continue;
      if (firstAccept_.load() == std::chrono::steady_clock::time_point()) {
        firstAccept_ = std::chrono::steady_clock::now();
      }
      conns_.emplace_back([this, s = std::move(s)]() mutable { serve(std::move(s)); });
    }
  }
  void serve(RawSocket client) {
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, client.fd());
    if (SSL_accept(ssl) != 1) {
      SSL_free(ssl);
      return;
    }
    ++handshakes_;
    RawSocket back = RawSocket::connectLoopback(backend_);
    char buf[16384];
    while (!stop_ && back.ok()) {
      if (SSL_pending(ssl) == 0) {
        pollfd p[2] = {{client.fd(), POLLIN, 0}, {back.fd(), POLLIN, 0}};
        if (::poll(p, 2, 50) <= 0) continue;
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
          ssize_t n = ::recv(back.fd(), buf, sizeof buf, 0);
          if (n <= 0 || SSL_write(ssl, buf, static_cast<int>(n)) <= 0) break;
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      }
      int n = SSL_read(ssl, buf, sizeof buf);
      if (n <= 0) {
        if (SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ) continue;
        break;
      }
      if (!back.writeAll(buf, static_cast<size_t>(n))) break;
    }
    SSL_free(ssl);
  }

  uint16_t backend_;
  SSL_CTX* ctx_ = nullptr;
  RawListener listener_;
  std::atomic<bool> stop_{false};
  std::atomic<int> handshakes_{0};
  std::atomic<std::chrono::steady_clock::time_point> firstAccept_{};
  std::thread acceptor_;
  std::vector<std::thread> conns_;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The OpenSSL proxy writes with write(2): a peer that went away must not kill the test.
    ::signal(SIGPIPE, SIG_IGN);
    if (!pki_.make()) GTEST_SKIP() << "openssl CLI not available to make test certificates";
    Ts2021ServerOptions o;
    o.serverKey = serverKey_.clone();
    o.onNoiseRequest = [](const NoisePeer&, ServerHttpRequest req, std::shared_ptr<H2ResponseWriter> w) {
      w->respond(200, {}, "tls:" + req.target);
    };
    auto s = Ts2021Server::create(loop_, std::move(o));
    ASSERT_TRUE(s);
    server_ = std::move(*s);
  }

  Result<HttpResponse> get(const std::string& url, HttpClientOptions o) {
    std::optional<Result<HttpResponse>> r;
    httpGet(loop_, url, std::move(o), [&](Result<HttpResponse> x) { r = std::move(x); });
    if (!runUntil(
            loop_, [&] { return r.has_value(); }, 10000ms))
      return Error::failed("test: no answer");
    return std::move(*r);
  }

  Ts2021ClientOptions clientOptions(uint16_t tlsPort) {
    Ts2021ClientOptions o;
    o.controlUrl = "https://127.0.0.1:" + std::to_string(tlsPort);
    o.machineKey = key::MachinePrivate::generate();
    o.controlPublic = serverKey_.publicKey();
    o.capver = CAPVER;
    o.extraCaFile = pki_.path("ca.pem");
    o.dialTimeout = 5000ms;
    return o;
  }

  Result<void> connect(Ts2021Client& c) {
    std::optional<Result<void>> r;
    c.connect([&](Result<void> x) { r = std::move(x); });
    if (!runUntil(
            loop_, [&] { return r.has_value(); }, 10000ms))
      return Error::failed("test: no connect result");
    return *r;
  }

  Pki pki_;
  bus::Loop loop_;
  key::MachinePrivate serverKey_ = key::MachinePrivate::generate();
  std::unique_ptr<Ts2021Server> server_;
};

TEST_F(TlsTest, HttpGetTrustsTheTestCa) {
  TlsProxy proxy(pki_.path("server.pem"), pki_.path("server.key"), server_->port());
  HttpClientOptions o;
  o.extraCaFile = pki_.path("ca.pem");
  o.noSystemCa = true;
  auto r = get("https://127.0.0.1:" + std::to_string(proxy.port()) + "/key?v=116", o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find(serverKey_.publicKey().toString()), std::string::npos);
  // By name too (SNI + DNS SAN), with the system store alongside.
  o.noSystemCa = false;
  r = get("https://localhost:" + std::to_string(proxy.port()) + "/key?v=116", o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST_F(TlsTest, HttpGetRefusesAWrongCa) {
  TlsProxy proxy(pki_.path("server.pem"), pki_.path("server.key"), server_->port());
  HttpClientOptions o;
  o.extraCaFile = pki_.path("other-ca.pem");
  o.noSystemCa = true;
  auto r = get("https://127.0.0.1:" + std::to_string(proxy.port()) + "/key?v=116", o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos) << r.error().message;
  // The system store does not know our test CA either.
  r = get("https://127.0.0.1:" + std::to_string(proxy.port()) + "/key?v=116", {});
  ASSERT_FALSE(r);
}

TEST_F(TlsTest, HttpGetRefusesACertificateForAnotherName) {
  TlsProxy proxy(pki_.path("wrongname.pem"), pki_.path("wrongname.key"), server_->port());
  HttpClientOptions o;
  o.extraCaFile = pki_.path("ca.pem");
  o.noSystemCa = true;
  auto r = get("https://127.0.0.1:" + std::to_string(proxy.port()) + "/key?v=116", o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("verify"), std::string::npos) << r.error().message;
}

TEST_F(TlsTest, Ts2021OverTlsWhenPlainHttpIsRefused) {
  TlsProxy proxy(pki_.path("server.pem"), pki_.path("server.key"), server_->port());
  auto o = clientOptions(proxy.port());
  o.httpPort = testing::closedPort();
  o.httpsFallbackDelay = 8000ms;
  auto c = Ts2021Client::create(loop_, std::move(o), {});
  auto start = std::chrono::steady_clock::now();
  auto r = connect(*c);
  ASSERT_TRUE(r) << r.error().message;
  // Port 80 failed at once, so the TLS dial did not wait for the (stretched) fallback timer.
  EXPECT_LT(proxy.firstAccept() - start, 4000ms);
  EXPECT_TRUE(c->info().viaTls);
  EXPECT_EQ(c->info().port, proxy.port());
  std::optional<Result<H2Response>> resp;
  c->request({"POST", "/machine/x", {}, "{}"}, 3000ms, [&](Result<H2Response> x) { resp = std::move(x); });
  ASSERT_TRUE(runUntil(loop_, [&] { return resp.has_value(); }));
  ASSERT_TRUE(*resp) << resp->error().message;
  EXPECT_EQ((*resp)->body, "tls:/machine/x");
}

TEST_F(TlsTest, Ts2021FallsBackToTlsAfter500msWhenPlainHttpStalls) {
  TlsProxy proxy(pki_.path("server.pem"), pki_.path("server.key"), server_->port());
  RawListener stalled;  // accepts (kernel backlog) and never answers
  auto o = clientOptions(proxy.port());
  o.httpPort = stalled.port();
  auto c = Ts2021Client::create(loop_, std::move(o), {});
  auto start = std::chrono::steady_clock::now();
  auto r = connect(*c);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(c->info().viaTls);
  EXPECT_GE(proxy.firstAccept() - start, 490ms);  // TLS began only when the timer fired
  EXPECT_GE(took, 490ms);
  EXPECT_LT(took, testing::scaled(3000ms));
}

TEST_F(TlsTest, Ts2021PlainHttpWinsWhenItAnswers) {
  TlsProxy proxy(pki_.path("server.pem"), pki_.path("server.key"), server_->port());
  auto o = clientOptions(proxy.port());
  o.httpPort = server_->port();
  auto c = Ts2021Client::create(loop_, std::move(o), {});
  ASSERT_TRUE(connect(*c));
  EXPECT_FALSE(c->info().viaTls);
  loop_.runFor(600ms);  // the TLS timer was cancelled: no TLS handshake happens later
  EXPECT_EQ(proxy.handshakes(), 0);
}

TEST_F(TlsTest, Ts2021TlsVerificationIsOptionalLikeGo) {
  TlsProxy proxy(pki_.path("server.pem"), pki_.path("server.key"), server_->port());
  auto o = clientOptions(proxy.port());
  o.httpPort = testing::closedPort();
  o.extraCaFile = pki_.path("other-ca.pem");
  auto c = Ts2021Client::create(loop_, std::move(o), {});
  auto r = connect(*c);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate verify failed"), std::string::npos) << r.error().message;

  // Go accepts any certificate on this path: Noise authenticates the server.
  auto o2 = clientOptions(proxy.port());
  o2.httpPort = testing::closedPort();
  o2.extraCaFile = pki_.path("other-ca.pem");
  o2.verifyTls = false;
  auto c2 = Ts2021Client::create(loop_, std::move(o2), {});
  auto r2 = connect(*c2);
  ASSERT_TRUE(r2) << r2.error().message;
  EXPECT_TRUE(c2->info().viaTls);
}

}  // namespace
}  // namespace tnet::net
