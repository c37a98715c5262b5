// The HTTP/2 server half of a ts2021 connection, I/O-free: nghttp2 with memory callbacks, and
// the H2ResponseWriter the application answers through. As with H2ClientSession, application
// callbacks are queued and run by the owner (runEvents), never inside nghttp2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/net/http_types.h"
#include "libs/net/ts2021_server.h"

struct nghttp2_session;

namespace tnet::net {

class H2ServerSession : public std::enable_shared_from_this<H2ServerSession> {
 public:
  using RequestHandler = std::function<void(ServerHttpRequest, std::shared_ptr<H2ResponseWriter>)>;

  // `onOutput` runs (on the caller's thread, outside nghttp2) whenever a writer queued output,
  // so the owner knows to flush.
  static Result<std::shared_ptr<H2ServerSession>> create(RequestHandler onRequest,
                                                         std::function<void()> onOutput);
  ~H2ServerSession();
  H2ServerSession(const H2ServerSession&) = delete;
  H2ServerSession& operator=(const H2ServerSession&) = delete;

  Result<void> receive(ByteSpan in);
  size_t takeOutput(Bytes& out, size_t maxBytes);
  bool wantsWrite() const;
  bool alive() const;
  // Why nghttp2 ended the connection (after !alive()), or "".
  const std::string& connectionError() const { return connectionError_; }
  // GOAWAY(NO_ERROR) with the last stream id; streams already started may finish.
  void goAway();
  // Closes every stream (writers report closed(), onClose runs) — the connection is gone.
  void closeAll();
  size_t openStreams() const { return streams_.size(); }
  size_t queuedBytes() const { return queuedBytes_; }

  void runEvents(const std::function<bool()>& ownerAlive);
  bool hasEvents() const { return !events_.empty(); }

  struct Stream;
  class Writer;

 private:
  H2ServerSession() = default;
  friend struct H2ServerCallbacks;
  void outputReady();

  nghttp2_session* session_ = nullptr;
  RequestHandler onRequest_;
  std::function<void()> onOutput_;
  std::map<int32_t, std::shared_ptr<Stream>> streams_;
  std::vector<std::function<void()>> events_;
  bool inNghttp2_ = false;
  size_t requestBytes_ = 0;      // bodies of requests not yet dispatched
  size_t queuedBytes_ = 0;       // response bytes queued in writers
  bool dead_ = false;            // closeAll() ran: nghttp2 must not touch the dropped streams
  std::string connectionError_;  // nghttp2's reason for a connection error it detected
};

}  // namespace tnet::net
