#include "libs/net/noise_pump.h"

#include "libs/net/limits.h"

namespace tnet::net::detail {

NoisePump::NoisePump(ByteStream stream, controlbase::Session session)
    : stream_(std::move(stream)), session_(std::move(session)) {}

NoisePump::~NoisePump() {
  if (open_) stream_.close();
}

void NoisePump::start(Bytes rawPrefix, Bytes alreadyRead) {
  rawPrefix_ = std::move(rawPrefix);
  auto self = shared_from_this();
  if (!alreadyRead.empty()) {
    Bytes plain;
    auto r = session_.open(alreadyRead, plain);
    if (!r) return fail(Error::failed("Noise: " + r.error().message));
    if (!plain.empty()) {
      r = onPlaintext(plain);
      if (!r) return fail(r.error());
    }
  }
  flush();
  afterIo();
  if (open_) readMore();
}

void NoisePump::readMore() {
  auto self = shared_from_this();
  stream_.asyncReadSome(asio::buffer(readBuf_),
                        [self](const error_code& ec, size_t n) { self->handleRead(ec, n); });
}

void NoisePump::handleRead(const error_code& ec, size_t n) {
  if (!open_) return;
  if (ec) {
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      return fail(Error::disconnected(session_.opener().buffered() > 0 ? "connection closed mid-record"
                                                                       : "connection closed by peer"));
    }
    return fail(Error::disconnected("read: " + describe(ec)));
  }
  bytesIn_ += n;
  Bytes plain;
  auto r = session_.open(ByteSpan(readBuf_.data(), n), plain);
  if (!r) return fail(Error::failed("Noise: " + r.error().message));
  if (!plain.empty()) {
    r = onPlaintext(plain);
    if (!r) return fail(r.error());
  }
  flush();
  auto self = shared_from_this();  // afterIo may drop the owner's reference
  afterIo();
  if (open_) readMore();
}

void NoisePump::flush() {
  if (!open_ || writing_) return;
  Bytes plain;
  pullPlaintext(plain, MAX_SOCKET_WRITE_QUEUE);
  if (!open_) return;
  out_.clear();
  if (!rawPrefix_.empty()) {
    // Go's server corks the handshake response with whatever follows it into one write.
    out_ = std::move(rawPrefix_);
    rawPrefix_.clear();
  }
  if (!plain.empty()) {
    auto r = session_.seal(plain, out_);
    if (!r) return fail(Error::failed("Noise: " + r.error().message));
  }
  if (out_.empty()) {
    // A graceful end still reports through onFailed so the owner cleans up in one place.
    if (closeWhenFlushed_) fail(Error::disconnected("connection closed locally"));
    return;
  }
  writing_ = true;
  auto self = shared_from_this();
  stream_.asyncWrite(asio::buffer(out_), [self](const error_code& ec, size_t) {
    self->writing_ = false;
    if (!self->open_) return;
    if (ec) return self->fail(Error::disconnected("write: " + describe(ec)));
    self->flush();
    self->afterIo();
  });
}

void NoisePump::close() {
  if (!open_) return;
  open_ = false;
  stream_.close();
}

void NoisePump::closeWhenFlushed() {
  closeWhenFlushed_ = true;
  flush();
}

void NoisePump::fail(Error error) {
  if (!open_) return;
  close();
  auto self = shared_from_this();
  onFailed(std::move(error));
}

}  // namespace tnet::net::detail
