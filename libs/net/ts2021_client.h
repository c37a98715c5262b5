// The ts2021 control client: one Noise-wrapped HTTP/2 connection to the control server (Go:
// control/controlhttp client.go + control/ts2021). Asio-free header; all work runs on the
// bus loop's thread and every callback runs there.
//
//   dial (plain HTTP upgrade on port 80 / the http:// port; TLS on 443 / the https:// port,
//   started HTTPS_FALLBACK_DELAY later or as soon as the plain attempt fails) → POST /ts2021 with
//   the Noise initiation in X-Tailscale-Handshake → 101 → Noise response → early payload (if
//   any) → HTTP/2 with prior knowledge (nghttp2) carrying every request on one connection.
//
// Lifetimes: destroying the client (or close()) cancels everything without running any
// callback except the `done` of pending request()s and the onEnd of open streams, which get
// Error::disconnected from close() (never from the destructor). StreamHandle may outlive the
// client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "libs/base/result.h"
#include "libs/bus/loop.h"
#include "libs/net/http_types.h"
#include "libs/net/limits.h"
#include "libs/wire/controlbase_early.h"
#include "libs/wire/keys.h"

namespace tnet::net {

// Cancels a stream when destroyed or reset (RST_STREAM CANCEL); no callback of that stream runs
// afterwards. Safe to destroy after the client is gone.
using StreamHandle = bus::Handle;

struct Ts2021ClientOptions {
  std::string controlUrl;            // https://host[:port] or http://host[:port]
  key::MachinePrivate machineKey;    // ours (sodium memory; only its public half leaves)
  key::MachinePublic controlPublic;  // from GET /key (fetchServerKey)
  uint16_t capver = 0;               // libs/ipn/capver.h CAPABILITY_VERSION
  std::string extraCaFile;           // tests: trust this PEM too
  // Dial, upgrade, Noise handshake and early payload together. Go: 5 s + 5 s (longer only with a
  // control dial plan, clamped to 60 s).
  std::chrono::milliseconds dialTimeout{10000};
  // How long the TLS attempt waits for the plain one (Go's 500 ms; tests stretch it).
  std::chrono::milliseconds httpsFallbackDelay = HTTPS_FALLBACK_DELAY;
  // Dial only the TLS port (Go's TS_FORCE_NOISE_443 / a recent port-80 failure).
  bool forceTls = false;
  // Go's client accepts any certificate on the 443 path (Noise authenticates control; the
  // check exists only to log). We verify and refuse by default; false follows Go.
  bool verifyTls = true;
  // Cap on a unary response body.
  size_t maxResponseBody = DEFAULT_MAX_UNARY_BODY;
  // Override the ports Go's rules pick (tests: a port that refuses or stalls). 0 = from the URL.
  uint16_t httpPort = 0;
  uint16_t httpsPort = 0;
};

class Ts2021Client {
 public:
  struct Callbacks {
    // The server's early payload (tailcfg.EarlyNoise, and its JSON text as sent), when it sends
    // one; runs before connect's done (connect waits for the first 9 plaintext bytes, which the
    // server sends at once).
    std::function<void(const controlbase::EarlyNoise&, std::string json)> onEarlyPayload;
    // The connection ended after connect succeeded: GOAWAY, EOF, a Noise or HTTP/2 error.
    // Not called for close() or the destructor.
    std::function<void(Error)> onClosed;
  };

  static std::unique_ptr<Ts2021Client> create(bus::Loop& loop, Ts2021ClientOptions options,
                                              Callbacks callbacks);
  ~Ts2021Client();
  Ts2021Client(const Ts2021Client&) = delete;
  Ts2021Client& operator=(const Ts2021Client&) = delete;

  // Dials and handshakes; done runs once (never inside this call). Calling it twice is a bug.
  void connect(std::function<void(Result<void>)> done);

  // A whole request/response (register, lite map updates). done runs once: the response (any
  // status), or an error (timeout → FAILED and the stream is reset; body over maxResponseBody →
  // OVERLOADED; connection gone → DISCONNECTED).
  void request(H2Request req, std::chrono::milliseconds timeout,
               std::function<void(Result<H2Response>)> done);

  // A streaming response (the map long-poll): onHeaders(status, headers) once, then every DATA
  // chunk as it arrives, then onEnd (ok at END_STREAM; an error for RST_STREAM or a lost
  // connection). The handle cancels it.
  [[nodiscard]] StreamHandle stream(H2Request req,
                                    std::function<void(int status, const HeaderList&)> onHeaders,
                                    std::function<void(std::span<const uint8_t>)> onData,
                                    std::function<void(Result<void>)> onEnd);

  bool connected() const;
  // Sends GOAWAY, fails pending requests/streams with DISCONNECTED, closes the socket.
  void close();

  // For logs and tests: which dial attempt won (TLS or plain HTTP) and on which port.
  struct Info {
    bool viaTls = false;
    uint16_t port = 0;
  };
  Info info() const;

  struct Impl;

 private:
  explicit Ts2021Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tnet::net
