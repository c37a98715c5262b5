#include "libs/net/h2_server.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

#include "libs/net/h2_nv.h"
#include "libs/net/limits.h"

namespace tnet::net {

struct H2ServerSession::Stream {
  int32_t id = 0;
  ServerHttpRequest request;
  size_t headerBytes = 0;
  bool rejected = false;  // over a limit: reset, never dispatched
  bool dispatched = false;
  std::shared_ptr<Writer> writer;
};

// One stream's response. Holds the session weakly: after the connection is gone every call is
// ignored and closed() is true.
class H2ServerSession::Writer : public H2ResponseWriter {
 public:
  Writer(std::weak_ptr<H2ServerSession> session, int32_t id, bool head)
      : session_(std::move(session)), id_(id), head_(head) {}

  void respond(int status, HeaderList headers, std::string body) override {
    if (closed_ || started_) return;
    if (head_) body.clear();  // a HEAD response carries no DATA (RFC 9110 §9.3.2)
    queue_ = std::move(body);
    account(static_cast<ptrdiff_t>(queue_.size()));
    ended_ = true;
    submit(status, headers, !queue_.empty());
  }
  void start(int status, HeaderList headers) override {
    if (closed_ || started_) return;
    if (head_) {
      ended_ = true;
      submit(status, headers, false);
      return;
    }
    submit(status, headers, true);
  }
  void write(std::string chunk) override {
    if (closed_ || !started_ || ended_ || chunk.empty()) return;
    auto s = session_.lock();
    if (queued() + chunk.size() > MAX_H2_WRITER_QUEUE ||
        (s && s->queuedBytes_ + chunk.size() > MAX_H2_CONNECTION_QUEUE)) {
      // The client stopped reading (flow control) and we will not buffer without bound.
      reset(NGHTTP2_CANCEL);
      return;
    }
    account(static_cast<ptrdiff_t>(chunk.size()));
    if (offset_ > 0 && offset_ >= queue_.size() / 2) {
      queue_.erase(0, offset_);
      offset_ = 0;
    }
    queue_ += chunk;
    resume();
  }
  void end() override {
    if (closed_ || !started_ || ended_) return;
    ended_ = true;
    resume();
  }
  bool closed() const override { return closed_; }
  size_t queued() const override { return queue_.size() - offset_; }
  void onClose(std::function<void()> fn) override {
    if (closed_) {
      if (fn) fn();
      return;
    }
    onClose_.push_back(std::move(fn));
  }

  // From the session.
  void markClosed() {
    if (closed_) return;
    closed_ = true;
    account(-static_cast<ptrdiff_t>(queued()));
    std::string().swap(queue_);
    offset_ = 0;
    auto fns = std::move(onClose_);
    onClose_.clear();
    for (auto& fn : fns) {
      if (fn) fn();
    }
  }

  ssize_t read(uint8_t* buf, size_t length, uint32_t* flags) {
    size_t n = std::min(length, queued());
    std::memcpy(buf, queue_.data() + offset_, n);
    offset_ += n;
    account(-static_cast<ptrdiff_t>(n));
    if (offset_ == queue_.size()) {
      queue_.clear();
      offset_ = 0;
    }
    if (queued() == 0) {
      if (ended_) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }

 private:
  static ssize_t readCallback(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                              nghttp2_data_source* source, void*) {
    return static_cast<Writer*>(source->ptr)->read(buf, length, flags);
  }

  void submit(int status, const HeaderList& headers, bool withBody) {
    auto s = session_.lock();
    if (!s || s->dead_) return;
    started_ = true;
    h2::NvList nv;
    nv.add(":status", std::to_string(status));
    nv.addUser(headers);
    nv.finish();
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = readCallback;
    int rv =
        nghttp2_submit_response(s->session_, id_, nv.nv.data(), nv.nv.size(), withBody ? &provider : nullptr);
    if (rv != 0) {
      reset(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    s->outputReady();
  }
  // Keeps the session's total of queued response bytes.
  void account(ptrdiff_t delta) {
    if (auto s = session_.lock())
      s->queuedBytes_ = static_cast<size_t>(static_cast<ptrdiff_t>(s->queuedBytes_) + delta);
  }
  void resume() {
    auto s = session_.lock();
    if (!s || s->dead_) return;
    nghttp2_session_resume_data(s->session_, id_);
    s->outputReady();
  }
  void reset(uint32_t code) {
    auto s = session_.lock();
    if (s && !s->dead_) {
      nghttp2_submit_rst_stream(s->session_, NGHTTP2_FLAG_NONE, id_, code);
      s->outputReady();
    }
    markClosed();
  }

  std::weak_ptr<H2ServerSession> session_;
  int32_t id_;
  bool head_;
  bool started_ = false;
  bool ended_ = false;
  bool closed_ = false;
  std::string queue_;
  size_t offset_ = 0;
  std::vector<std::function<void()>> onClose_;
};

namespace {
using Stream = H2ServerSession::Stream;
constexpr int32_t STREAM_WINDOW = 1 << 20;
}  // namespace

struct H2ServerCallbacks {
  static int onError(nghttp2_session*, int, const char* msg, size_t len, void* user) {
    auto& s = *static_cast<H2ServerSession*>(user);
    if (s.connectionError_.empty()) s.connectionError_.assign(msg, std::min<size_t>(len, 200));
    return 0;
  }
  static H2ServerSession& self(void* user) { return *static_cast<H2ServerSession*>(user); }
  static std::shared_ptr<Stream> find(H2ServerSession& s, int32_t id) {
    auto it = s.streams_.find(id);
    return it == s.streams_.end() ? nullptr : it->second;
  }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto st = std::make_shared<Stream>();
    st->id = frame->hd.stream_id;
    s.streams_[st->id] = st;
    return 0;
  }

  static int onHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto st = find(self(user), frame->hd.stream_id);
    if (!st || st->rejected || st->dispatched) return 0;  // trailers are ignored
    st->headerBytes += namelen + valuelen + 32;
    if (st->headerBytes > MAX_H2_HEADER_BYTES || st->request.headers.size() >= MAX_H2_HEADERS) {
      st->rejected = true;
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    auto n = h2::asView(name, namelen);
    auto v = h2::asView(value, valuelen);
    if (n == ":method") {
      st->request.method = v;
    } else if (n == ":path") {
      st->request.target = v;
    } else if (n == ":authority") {
      st->request.headers.emplace_back("host", v);
    } else if (!n.empty() && n[0] != ':') {
      st->request.headers.emplace_back(n, v);
    }
    return 0;
  }

  static int onDataChunk(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
    auto& s = self(user);
    auto st = find(s, id);
    if (!st || st->rejected || st->dispatched) return 0;
    if (st->request.body.size() + len > MAX_H2_REQUEST_BODY ||
        s.requestBytes_ + len > MAX_H2_CONNECTION_REQUEST_BYTES) {
      st->rejected = true;
      s.requestBytes_ -= st->request.body.size();
      std::string().swap(st->request.body);
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    st->request.body.append(reinterpret_cast<const char*>(data), len);
    s.requestBytes_ += len;
    return 0;
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    auto st = find(s, frame->hd.stream_id);
    if (!st || st->rejected || st->dispatched) return 0;
    st->dispatched = true;
    s.requestBytes_ -= st->request.body.size();
    st->writer =
        std::make_shared<H2ServerSession::Writer>(s.weak_from_this(), st->id, st->request.method == "HEAD");
    s.events_.push_back([&s, st] {
      if (s.onRequest_) s.onRequest_(std::move(st->request), st->writer);
    });
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t id, uint32_t, void* user) {
    auto& s = self(user);
    auto it = s.streams_.find(id);
    if (it == s.streams_.end()) return 0;
    auto st = it->second;
    s.streams_.erase(it);
    if (!st->dispatched && !st->rejected) s.requestBytes_ -= st->request.body.size();
    if (st->writer) {
      s.events_.push_back([w = st->writer] { w->markClosed(); });
    }
    return 0;
  }
};

Result<std::shared_ptr<H2ServerSession>> H2ServerSession::create(RequestHandler onRequest,
                                                                 std::function<void()> onOutput) {
  std::shared_ptr<H2ServerSession> s(new H2ServerSession());
  s->onRequest_ = std::move(onRequest);
  s->onOutput_ = std::move(onOutput);
  nghttp2_session_callbacks* cbs = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0) return Error::failed("nghttp2: out of memory");
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, H2ServerCallbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, H2ServerCallbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, H2ServerCallbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, H2ServerCallbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, H2ServerCallbacks::onStreamClose);
  nghttp2_session_callbacks_set_error_callback2(cbs, H2ServerCallbacks::onError);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_max_send_header_block_length(opt, MAX_H2_HEADER_BYTES);
  int rv = nghttp2_session_server_new2(&s->session_, cbs, s.get(), opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) return Error::failed(std::string("nghttp2_session_server_new: ") + nghttp2_strerror(rv));
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_H2_HEADER_BYTES},
  };
  rv = nghttp2_submit_settings(s->session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  if (rv != 0) return Error::failed(std::string("nghttp2 settings: ") + nghttp2_strerror(rv));
  return s;
}

H2ServerSession::~H2ServerSession() {
  nghttp2_session_del(session_);
}

void H2ServerSession::outputReady() {
  if (!inNghttp2_ && onOutput_) onOutput_();
}

Result<void> H2ServerSession::receive(ByteSpan in) {
  if (dead_) return Error::disconnected("connection closed");
  inNghttp2_ = true;
  while (!in.empty()) {
    ssize_t n = nghttp2_session_mem_recv(session_, in.data(), in.size());
    if (n < 0) {
      inNghttp2_ = false;
      return Error::failed(std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n)));
    }
    in = in.subspan(static_cast<size_t>(n));
  }
  inNghttp2_ = false;
  if (nghttp2_session_want_read(session_) == 0 && !connectionError_.empty()) {
    return Error::failed("HTTP/2: " + connectionError_);
  }
  return {};
}

size_t H2ServerSession::takeOutput(Bytes& out, size_t maxBytes) {
  if (dead_) return 0;
  inNghttp2_ = true;
  size_t total = 0;
  while (total < maxBytes) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) break;
    out.insert(out.end(), data, data + n);
    total += static_cast<size_t>(n);
  }
  inNghttp2_ = false;
  return total;
}

bool H2ServerSession::wantsWrite() const {
  return !dead_ && nghttp2_session_want_write(session_) != 0;
}

bool H2ServerSession::alive() const {
  return !dead_ && (nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0);
}

void H2ServerSession::goAway() {
  if (dead_) return;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  outputReady();
}

void H2ServerSession::closeAll() {
  dead_ = true;
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, st] : streams) {
    if (st->writer) events_.push_back([w = st->writer] { w->markClosed(); });
  }
}

void H2ServerSession::runEvents(const std::function<bool()>& ownerAlive) {
  auto keep = shared_from_this();
  size_t i = 0;
  while (i < events_.size()) {
    if (!ownerAlive()) return;
    auto fn = std::move(events_[i]);
    ++i;
    fn();
  }
  events_.clear();
}

}  // namespace tnet::net
