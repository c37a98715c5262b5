#include "libs/net/h2_client.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "libs/net/h2_nv.h"
#include "libs/net/limits.h"

namespace tnet::net {

struct H2ClientSession::Stream {
  StreamEvents events;
  std::string body;  // request body being sent
  size_t bodyOffset = 0;
  int status = 0;
  HeaderList headers;
  size_t headerBytes = 0;
  bool headersDelivered = false;
  bool ended = false;      // END_STREAM received
  bool cancelled = false;  // no more events
  std::optional<Error> error;
};

namespace {
using Stream = H2ClientSession::Stream;

// Per-stream (connection) receive window: Go's http2 Transport uses 4 MiB per stream. Data is
// handed to the application as it arrives, so the window does not imply buffering here.
constexpr int32_t STREAM_WINDOW = 4 << 20;
constexpr int32_t CONNECTION_WINDOW = 16 << 20;
}  // namespace

struct H2ClientCallbacks {
  static int onError(nghttp2_session*, int, const char* msg, size_t len, void* user) {
    auto& s = *static_cast<H2ClientSession*>(user);
    if (s.connectionError_.empty()) s.connectionError_.assign(msg, std::min<size_t>(len, 200));
    return 0;
  }
  static H2ClientSession& self(void* user) { return *static_cast<H2ClientSession*>(user); }

  static std::shared_ptr<Stream> find(H2ClientSession& s, int32_t id) {
    auto it = s.streams_.find(id);
    return it == s.streams_.end() ? nullptr : it->second;
  }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto st = find(self(user), frame->hd.stream_id);
    if (st && !st->headersDelivered) {
      // A 1xx response is followed by the real one: start over.
      st->status = 0;
      st->headers.clear();
      st->headerBytes = 0;
    }
    return 0;
  }

  static int onHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto st = find(self(user), frame->hd.stream_id);
    if (!st || st->headersDelivered) return 0;   // trailers are ignored
    st->headerBytes += namelen + valuelen + 32;  // RFC 9113 §6.5.2 accounting
    if (st->headerBytes > MAX_H2_HEADER_BYTES || st->headers.size() >= MAX_H2_HEADERS) {
      st->error = Error::overloaded("response header block too large");
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    auto n = h2::asView(name, namelen);
    auto v = h2::asView(value, valuelen);
    if (n == ":status") {
      int status = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), status);
      if (ec != std::errc() || p != v.data() + v.size() || status < 100 || status > 999) {
        st->error = Error::invalid("bad :status in response");
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
      st->status = status;
    } else if (!n.empty() && n[0] != ':') {
      st->headers.emplace_back(n, v);
    }
    return 0;
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      std::string msg = "server sent GOAWAY (" + h2::errorCodeName(frame->goaway.error_code) + ")";
      if (frame->goaway.opaque_data_len > 0) {
        msg += ": " + controlbaseQuote(frame->goaway.opaque_data, frame->goaway.opaque_data_len);
      }
      s.goAway_ = Error::disconnected(std::move(msg));
      return 0;
    }
    auto st = find(s, frame->hd.stream_id);
    if (!st) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && !st->headersDelivered && st->status >= 200) {
      st->headersDelivered = true;
      s.events_.push_back([st, status = st->status, headers = std::move(st->headers)] {
        if (!st->cancelled && st->events.onHeaders) st->events.onHeaders(status, headers);
      });
      st->headers.clear();
    }
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      st->ended = true;
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
    auto& s = self(user);
    auto st = find(s, id);
    if (!st || len == 0) return 0;
    s.events_.push_back([st, chunk = Bytes(data, data + len)] {
      if (!st->cancelled && st->events.onData) st->events.onData(chunk);
    });
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t id, uint32_t code, void* user) {
    auto& s = self(user);
    auto it = s.streams_.find(id);
    if (it == s.streams_.end()) return 0;
    auto st = it->second;
    s.streams_.erase(it);
    Result<void> outcome;
    if (st->error) {
      outcome = *st->error;
    } else if (!st->headersDelivered) {
      outcome = code == NGHTTP2_REFUSED_STREAM
                    ? Error::disconnected("stream refused by server (REFUSED_STREAM)")
                    : Error::failed("stream closed before a response (" + h2::errorCodeName(code) + ")");
    } else if (!st->ended) {
      outcome = Error::failed("stream reset by server (" + h2::errorCodeName(code) + ")");
    }
    s.events_.push_back([st, outcome = std::move(outcome)] {
      if (st->cancelled) return;
      st->cancelled = true;
      if (st->events.onClose) st->events.onClose(outcome);
    });
    return 0;
  }

  static ssize_t readBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    auto* st = static_cast<Stream*>(source->ptr);
    size_t n = std::min(length, st->body.size() - st->bodyOffset);
    std::memcpy(buf, st->body.data() + st->bodyOffset, n);
    st->bodyOffset += n;
    if (st->bodyOffset == st->body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      std::string().swap(st->body);
      st->bodyOffset = 0;
    }
    return static_cast<ssize_t>(n);
  }

  // GOAWAY debug data is untrusted text: printable ASCII only, and short.
  static std::string controlbaseQuote(const uint8_t* p, size_t n) {
    std::string out;
    for (size_t i = 0; i < std::min<size_t>(n, 200); ++i) {
      char c = static_cast<char>(p[i]);
      out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
  }
};

Result<std::unique_ptr<H2ClientSession>> H2ClientSession::create(std::string authority) {
  std::unique_ptr<H2ClientSession> s(new H2ClientSession());
  s->authority_ = std::move(authority);
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return Error::failed("nghttp2: out of memory");
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, H2ClientCallbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, H2ClientCallbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, H2ClientCallbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, H2ClientCallbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, H2ClientCallbacks::onStreamClose);
  nghttp2_session_callbacks_set_error_callback2(cbs, H2ClientCallbacks::onError);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_max_send_header_block_length(opt, MAX_H2_HEADER_BYTES);
  int rv = nghttp2_session_client_new2(&s->session_, cbs, s.get(), opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return Error::failed(std::string("nghttp2_session_client_new: ") + nghttp2_strerror(rv));
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_H2_HEADER_BYTES},
  };
  rv = nghttp2_submit_settings(s->session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  if (rv == 0)
    rv = nghttp2_session_set_local_window_size(s->session_, NGHTTP2_FLAG_NONE, 0, CONNECTION_WINDOW);
  if (rv != 0) return Error::failed(std::string("nghttp2 settings: ") + nghttp2_strerror(rv));
  return s;
}

H2ClientSession::~H2ClientSession() {
  for (auto& [id, st] : streams_) st->cancelled = true;
  nghttp2_session_del(session_);
}

Result<void> H2ClientSession::receive(ByteSpan in) {
  if (dead_) return Error::disconnected("connection closed");
  while (!in.empty()) {
    ssize_t n = nghttp2_session_mem_recv(session_, in.data(), in.size());
    if (n < 0) return Error::failed(std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n)));
    in = in.subspan(static_cast<size_t>(n));
  }
  if (nghttp2_session_want_read(session_) == 0 && !connectionError_.empty()) {
    return Error::failed("HTTP/2: " + connectionError_);
  }
  return {};
}

size_t H2ClientSession::takeOutput(Bytes& out, size_t maxBytes) {
  if (dead_) {
    size_t n = lastOutput_.size();
    out.insert(out.end(), lastOutput_.begin(), lastOutput_.end());
    Bytes().swap(lastOutput_);
    return n;
  }
  size_t total = 0;
  while (total < maxBytes) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) break;  // nothing more (errors surface as !alive())
    out.insert(out.end(), data, data + n);
    total += static_cast<size_t>(n);
  }
  return total;
}

bool H2ClientSession::wantsWrite() const {
  return !dead_ && nghttp2_session_want_write(session_) != 0;
}

bool H2ClientSession::alive() const {
  return !dead_ && (nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0);
}

Result<int32_t> H2ClientSession::submit(const H2Request& req, StreamEvents events) {
  if (dead_) return Error::disconnected("connection closed");
  if (goAway_) return *goAway_;
  if (req.path.empty() || req.path[0] != '/') return Error::invalid("request path must start with /");
  if (req.method.empty()) return Error::invalid("request method is empty");
  auto st = std::make_shared<Stream>();
  st->events = std::move(events);
  st->body = req.body;
  h2::NvList nv;
  nv.add(":method", req.method);
  nv.add(":scheme", "https");
  nv.add(":authority", authority_);
  nv.add(":path", req.path);
  nv.addUser(req.headers);
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    if (!headerValue(req.headers, "content-length"))
      nv.add("content-length", std::to_string(req.body.size()));
  }
  nv.finish();
  nghttp2_data_provider provider{};
  provider.source.ptr = st.get();
  provider.read_callback = H2ClientCallbacks::readBody;
  int32_t id = nghttp2_submit_request(session_, nullptr, nv.nv.data(), nv.nv.size(),
                                      req.body.empty() ? nullptr : &provider, nullptr);
  if (id < 0) return Error::overloaded(std::string("HTTP/2 submit: ") + nghttp2_strerror(id));
  streams_[id] = std::move(st);
  return id;
}

void H2ClientSession::cancel(int32_t streamId) {
  if (dead_) return;
  auto it = streams_.find(streamId);
  if (it == streams_.end()) return;
  it->second->cancelled = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, streamId, NGHTTP2_CANCEL);
}

void H2ClientSession::goAway() {
  if (dead_) return;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
}

void H2ClientSession::failAll(const Error& error) {
  if (!dead_) {
    // What is queued now (typically close()'s GOAWAY) may still go out; nothing after it.
    takeOutput(lastOutput_, 64 << 10);
  }
  dead_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) {
    events_.push_back([st, error] {
      if (st->cancelled) return;
      st->cancelled = true;
      if (st->events.onClose) st->events.onClose(error);
    });
  }
}

void H2ClientSession::runEvents(const std::function<bool()>& ownerAlive) {
  // Events queued while running (a callback that submits or cancels) run in this pass too.
  size_t i = 0;
  while (i < events_.size()) {
    if (!ownerAlive()) return;
    auto fn = std::move(events_[i]);
    ++i;
    fn();
    if (!ownerAlive()) return;  // `this` may be gone
  }
  events_.clear();
}

}  // namespace tnet::net
