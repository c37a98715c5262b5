// The ts2021 control server side (for tests/integration/testcontrol): an HTTP/1.1 listener that
// answers GET /key, upgrades POST /ts2021 (Go: controlhttpserver.AcceptHTTP) to a Noise
// responder and then an HTTP/2 server (nghttp2), and hands every other HTTP/1.1 request to the
// application. Asio-free header; everything runs on the bus loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "libs/base/result.h"
#include "libs/bus/loop.h"
#include "libs/net/http_types.h"
#include "libs/net/limits.h"
#include "libs/wire/keys.h"

namespace tnet::net {

// One HTTP/2 stream's response. All calls on the loop; calls after closed() are ignored.
class H2ResponseWriter {
 public:
  virtual ~H2ResponseWriter() = default;
  // A whole response (END_STREAM after the body).
  virtual void respond(int status, HeaderList headers, std::string body) = 0;
  // Streaming: headers now, then write()s, then end().
  virtual void start(int status, HeaderList headers) = 0;
  // Queued and sent as flow control allows. A stream whose queue exceeds MAX_H2_WRITER_QUEUE is
  // reset (the client stalled) and becomes closed().
  virtual void write(std::string chunk) = 0;
  virtual void end() = 0;
  // The stream is gone: ended and flushed, reset by either side, or the connection closed.
  virtual bool closed() const = 0;
  // Bytes written but not yet handed to HTTP/2.
  virtual size_t queued() const = 0;
  // Runs once when the stream closes for any reason (immediately if already closed).
  virtual void onClose(std::function<void()> fn) = 0;
};

struct NoisePeer {
  key::MachinePublic machinePublic;  // the client's machine key, proven by the handshake
  uint16_t capver = 0;               // the protocol version of its initiation
  uint64_t connId = 0;               // unique per Noise connection of this server
};

struct Ts2021ServerOptions {
  std::string listen = "127.0.0.1:0";  // "ip:port", IPv6 as "[::1]:0"
  // An HTTP/1.1 request (headers and body) must arrive within this; a stalled client is closed.
  std::chrono::milliseconds requestTimeout = SERVER_REQUEST_TIMEOUT;
  key::MachinePrivate serverKey;  // the control server's machine key (Noise static)
  // Served at GET /key as {"legacyPublicKey":"mkey:000…","publicKey":"mkey:…"}.
  // Optional: the early payload JSON for a new connection ("" = send none).
  std::function<std::string(const NoisePeer&)> earlyPayload;
  // Every HTTP/2 request on a Noise connection (body complete).
  std::function<void(const NoisePeer&, ServerHttpRequest, std::shared_ptr<H2ResponseWriter>)> onNoiseRequest;
  std::function<void(const NoisePeer&)> onNoiseClosed;
  // Every HTTP/1.1 request that is not GET /key or the /ts2021 upgrade (an admin API). Reply
  // once; without a handler the answer is 404.
  std::function<void(ServerHttpRequest,
                     std::function<void(int status, std::string contentType, std::string body)>)>
      onHttpRequest;
};

class Ts2021Server {
 public:
  static Result<std::unique_ptr<Ts2021Server>> create(bus::Loop& loop, Ts2021ServerOptions options);
  ~Ts2021Server();  // closes the listener and every connection (no callbacks)
  Ts2021Server(const Ts2021Server&) = delete;
  Ts2021Server& operator=(const Ts2021Server&) = delete;

  uint16_t port() const;
  key::MachinePublic publicKey() const;
  // Noise connections currently open.
  size_t noiseConnections() const;
  // Ends one Noise connection: graceful sends GOAWAY and closes once written; otherwise the
  // socket is closed at once. False if no such connection.
  bool closeNoise(uint64_t connId, bool graceful);

  struct Impl;

 private:
  explicit Ts2021Server(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tnet::net
