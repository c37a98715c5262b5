// The HTTP/2 client half of a ts2021 connection, I/O-free: nghttp2 with memory callbacks.
// The owner feeds it the plaintext the server sent (receive), pulls the plaintext to send
// (takeOutput), and runs the queued events (runEvents) when it is safe to call the
// application: events never run inside nghttp2, so a callback may cancel streams or destroy
// the owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/net/http_types.h"

struct nghttp2_session;

namespace tnet::net {

class H2ClientSession {
 public:
  struct StreamEvents {
    std::function<void(int status, const HeaderList&)> onHeaders;
    std::function<void(std::span<const uint8_t>)> onData;
    // OK after END_STREAM; otherwise the reset code or connection error.
    std::function<void(Result<void>)> onClose;
  };

  // `authority` is the :authority of every request (Go sends the control host).
  static Result<std::unique_ptr<H2ClientSession>> create(std::string authority);
  ~H2ClientSession();
  H2ClientSession(const H2ClientSession&) = delete;
  H2ClientSession& operator=(const H2ClientSession&) = delete;

  // Bytes from the server. An error is fatal for the connection (protocol error, flood).
  Result<void> receive(ByteSpan in);
  // Appends at most about `maxBytes` of frames to send (0 when nothing is pending).
  size_t takeOutput(Bytes& out, size_t maxBytes);
  bool wantsWrite() const;
  // False once nghttp2 is done with the connection (after GOAWAY both ways and no streams).
  bool alive() const;
  // Why nghttp2 ended the connection (after !alive()), or "".
  const std::string& connectionError() const { return connectionError_; }

  // Starts a request; the stream id, or an error (GOAWAY received, too many streams).
  Result<int32_t> submit(const H2Request& req, StreamEvents events);
  // RST_STREAM(CANCEL); no event of the stream runs afterwards.
  void cancel(int32_t streamId);
  // Sends GOAWAY(NO_ERROR).
  void goAway();
  // Fails every open stream with `error` (the connection is gone) and drops them.
  void failAll(const Error& error);

  // The server's GOAWAY, once received.
  std::optional<Error> goAwayReceived() const { return goAway_; }
  size_t openStreams() const { return streams_.size(); }

  // Runs queued events; stops early when `alive` turns false (the owner was destroyed).
  void runEvents(const std::function<bool()>& ownerAlive);
  bool hasEvents() const { return !events_.empty(); }

  struct Stream;

 private:
  H2ClientSession() = default;
  friend struct H2ClientCallbacks;

  nghttp2_session* session_ = nullptr;
  std::string authority_;
  std::map<int32_t, std::shared_ptr<Stream>> streams_;
  std::vector<std::function<void()>> events_;
  std::optional<Error> goAway_;
  bool dead_ = false;            // failAll() ran: nghttp2 must not touch the dropped streams
  Bytes lastOutput_;             // frames pulled at failAll() (a GOAWAY from close()) still to be sent
  std::string connectionError_;  // nghttp2's reason for a connection error it detected
};

}  // namespace tnet::net
