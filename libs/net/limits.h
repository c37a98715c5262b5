// Every bound libs/net enforces, in one place (docs/net.md explains each).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tnet::net {

// HTTP/1.1 (client responses and server requests): the header block, and a request body on the
// server (admin API / upgrade requests carry small bodies).
constexpr size_t MAX_HTTP1_HEADER_BYTES = 16 << 10;
constexpr size_t MAX_SERVER_REQUEST_BODY = 1 << 20;
// A server connection must deliver its request headers (and body) within this time.
constexpr std::chrono::seconds SERVER_REQUEST_TIMEOUT{10};

// HTTP/2: total header-block bytes per stream we accept (names + values), and header count.
constexpr size_t MAX_H2_HEADER_BYTES = 64 << 10;
constexpr size_t MAX_H2_HEADERS = 100;
// Default cap on a unary (non-streaming) response body; Go reads at most 1 MiB of a
// RegisterResponse.
constexpr size_t DEFAULT_MAX_UNARY_BODY = 1 << 20;
// Server: a request body on a Noise HTTP/2 stream (MapRequest/RegisterRequest are small).
constexpr size_t MAX_H2_REQUEST_BODY = 4 << 20;
// Server: bytes queued by H2ResponseWriter::write that the client has not taken yet. A client
// that stalls past this has its stream reset (a streaming map response is unbounded in total).
constexpr size_t MAX_H2_WRITER_QUEUE = 16 << 20;
// Server, per connection: request bodies being received, and response bytes queued by all of
// its writers (so 250 streams cannot each hold their own maximum).
constexpr size_t MAX_H2_CONNECTION_REQUEST_BYTES = 16 << 20;
constexpr size_t MAX_H2_CONNECTION_QUEUE = 64 << 20;
// Concurrent streams each side allows.
constexpr uint32_t MAX_CONCURRENT_STREAMS = 250;
// Socket-side: plaintext we hand to the socket before we stop pulling frames from nghttp2.
constexpr size_t MAX_SOCKET_WRITE_QUEUE = 256 << 10;

// Server: open TCP connections (HTTP/1.1 and Noise together); more are closed at accept.
constexpr size_t MAX_SERVER_CONNECTIONS = 1024;

// Go's controlhttp: the TLS (443) attempt starts this long after the plain HTTP one.
constexpr std::chrono::milliseconds HTTPS_FALLBACK_DELAY{500};

}  // namespace tnet::net
