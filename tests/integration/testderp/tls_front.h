// testderp's optional TLS listener: terminates TLS (TLS 1.2+, a self-signed certificate made at
// start, CN = the given name) and relays the bytes to the plain DERP listener, one thread per
// connection that alone owns its SSL object. It lets tests exercise a DERP client's TLS paths:
// chain verification (which fails on a self-signed certificate), `sha256-raw:` pins and
// InsecureForTests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "libs/base/bytes.h"
#include "libs/base/result.h"

namespace tnet::testderp {

class TlsFront {
 public:
  static Result<std::unique_ptr<TlsFront>> start(const std::string& host, uint16_t port, uint16_t backendPort,
                                                 const std::string& certName);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;

  uint16_t port() const;
  const Bytes& certDer() const;
  std::string certPin() const;  // "sha256-raw:<hex>", Go's DERPNode.CertName pin form
  void stop();

  struct Impl;

 private:
  explicit TlsFront(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tnet::testderp
