// Internal to libs/net (Asio): moves bytes between a socket and an HTTP/2 session through an
// established controlbase::Session. Subclasses (the ts2021 client and server connections) say
// what to do with decrypted input and where output comes from; the pump owns the socket, the
// single outstanding write, and the failure path.
#pragma once

#include <array>
#include <memory>
#include <optional>

#include "libs/net/asio_stream.h"
#include "libs/wire/controlbase.h"

namespace tnet::net::detail {

class NoisePump : public std::enable_shared_from_this<NoisePump> {
 public:
  NoisePump(ByteStream stream, controlbase::Session session);
  virtual ~NoisePump();
  NoisePump(const NoisePump&) = delete;
  NoisePump& operator=(const NoisePump&) = delete;

  // Writes `rawPrefix` (the server's handshake response) before the first record, decrypts
  // `alreadyRead` (bytes read past the handshake), then reads the socket until it fails.
  void start(Bytes rawPrefix, Bytes alreadyRead);
  // Pulls output from the subclass and writes it (no-op while a write is in flight: the
  // completion pulls again).
  void flush();
  // Closes the socket now; no further subclass callbacks.
  void close();
  // Closes once everything pulled so far has been written and nothing more is pending; then
  // onFailed(disconnected) runs like for any other end.
  void closeWhenFlushed();
  bool isOpen() const { return open_; }
  bool viaTls() const { return stream_.isTls(); }
  uint64_t bytesIn() const { return bytesIn_; }

 protected:
  // Decrypted bytes from the peer. An error fails the connection.
  virtual Result<void> onPlaintext(ByteSpan plaintext) = 0;
  // Appends at most about maxBytes of plaintext to send.
  virtual void pullPlaintext(Bytes& out, size_t maxBytes) = 0;
  // After a batch of input and output: run queued application events (may close us).
  virtual void afterIo() = 0;
  // The connection failed (EOF, socket, Noise or HTTP/2 error); called once, then closed.
  virtual void onFailed(Error error) = 0;

  void fail(Error error);

 private:
  void readMore();
  void handleRead(const error_code& ec, size_t n);

  ByteStream stream_;
  controlbase::Session session_;
  bool open_ = true;
  bool writing_ = false;
  bool closeWhenFlushed_ = false;
  Bytes rawPrefix_;
  Bytes out_;  // sealed records being written
  std::array<uint8_t, 16384> readBuf_;
  uint64_t bytesIn_ = 0;
};

}  // namespace tnet::net::detail
