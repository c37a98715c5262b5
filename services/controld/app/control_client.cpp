#include "services/controld/app/control_client.h"

#include <algorithm>
#include <malloc.h>

#include <ctime>

#include "libs/log/log.h"
#include "libs/net/http_client.h"
#include "libs/net/ts2021_client.h"
#include "libs/net/url.h"
#include "libs/wire/controlbase_key.h"
#include "services/controld/app/backoff.h"
#include "services/controld/core/capver.h"
#include "services/controld/core/hostinfo_parse.h"
#include "services/controld/core/map_decode.h"
#include "services/controld/core/register_response.h"
#include "services/controld/core/zstd_frame.h"

namespace tnet::controld {

namespace {

constexpr uint16_t CAPVER = static_cast<uint16_t>(CAPABILITY_VERSION);
// Go: time.Unix(123, 0), the "expire now" of a logout.
constexpr int64_t LOGOUT_EXPIRY = 123;
// Go's answerHeadPing timeout.
constexpr std::chrono::seconds PING_TIMEOUT{15};
// How much of an error body (non-200 answer) we quote in lastError.
constexpr size_t MAX_ERROR_BODY = 512;

std::string quoteBody(std::string_view body) {
  std::string cut(body.substr(0, std::min(body.size(), MAX_ERROR_BODY)));
  while (!cut.empty() && (cut.back() == '\n' || cut.back() == '\r' || cut.back() == ' ')) cut.pop_back();
  return log::quote(cut);
}

std::string httpError(std::string_view what, int status, std::string_view body) {
  std::string msg = std::string(what) + ": control answered HTTP " + std::to_string(status);
  if (!body.empty()) msg += ": " + quoteBody(body);
  return msg;
}

void wipeString(std::string& s) {
  if (!s.empty()) crypto::wipe(MutableByteSpan(reinterpret_cast<uint8_t*>(s.data()), s.size()));
  s.clear();
}

const char* phaseName(Phase p) {
  switch (p) {
    case Phase::IDLE: return "idle";
    case Phase::REGISTERING: return "registering";
    case Phase::WAITING_FOR_AUTH: return "waitingForAuth";
    case Phase::LOGGED_IN: return "loggedIn";
    case Phase::MAP_POLLING: return "mapPolling";
    case Phase::RECONNECTING: return "reconnecting";
  }
  return "?";
}

}  // namespace

struct ControlClient::Impl : std::enable_shared_from_this<Impl> {
  using ClientFn = std::function<void(Result<net::Ts2021Client*>)>;

  struct Poll {
    Poll(uint64_t id, size_t maxFrame) : id(id), reader(maxFrame) {}
    uint64_t id;
    net::StreamHandle stream;
    MapFrameReader reader;
    MapSession session;
    bus::Handle watchdog;
    int httpStatus = 0;
    std::string errorBody;
    bool delivering = false;
  };

  Impl(bus::Loop& loop, key::MachinePrivate key, ControlClientOptions options, ControlClientSink sink)
      : loop(loop),
        machineKey(std::move(key)),
        opts(std::move(options)),
        sink(std::move(sink)),
        loginBackoff(opts.backoffInitial, opts.backoffMax),
        pollBackoff(opts.backoffInitial, opts.backoffMax),
        liteBackoff(opts.backoffInitial, opts.backoffMax) {
    status.machinePublic = machineKey.publicKey().toString();
  }

  bus::Loop& loop;
  key::MachinePrivate machineKey;
  ControlClientOptions opts;
  ControlClientSink sink;
  ControlStatusValue status;
  ClientHealth health = ClientHealth::OK;
  std::string healthMessage;
  log::RateLimiter netLog{1.0, 20};

  // ---- the connection ----
  std::string url;
  std::optional<key::MachinePublic> serverKey;
  std::shared_ptr<net::Ts2021Client> client;
  bool connected = false;
  bool dialing = false;
  uint64_t connGen = 0;
  std::vector<ClientFn> waiters;
  std::string loggedDialUrl;

  // ---- login ----
  uint64_t loginId = 0;
  bool loginActive = false;
  std::function<void(Result<LoginResult>)> loginDone;
  key::NodePublic loginNode, loginOldNode;
  Hostinfo loginHostinfo;
  bool loginEphemeral = false;
  std::string followupUrl;
  bus::Handle loginRetry;
  Backoff loginBackoff;
  key::NodePublic loggedOutNode;

  // ---- config, map poll, lite updates ----
  std::optional<ConfigInput> cfg;
  Hostinfo cfgHostinfo;
  std::optional<NetInfo> cfgNetInfo;
  std::unique_ptr<Poll> poll;
  uint64_t pollSeq = 0;
  bool pollWanted = false;
  key::NodePublic pollNode;
  bus::Handle pollRetry;
  Backoff pollBackoff;
  uint64_t netmapGeneration = 0;
  bool publishPending = false;
  uint64_t liteGen = 0;
  bus::Handle liteRetry;
  Backoff liteBackoff;

  // ---------------------------------------------------------------------------------------
  void publishStatus() {
    if (sink.onStatus) sink.onStatus(status);
  }

  void setHealth(ClientHealth h, std::string message) {
    if (h == health && message == healthMessage) return;
    health = h;
    healthMessage = std::move(message);
    if (sink.onHealth) sink.onHealth(health, healthMessage);
  }

  void warnNet(const std::string& event, const std::string& err) {
    if (!netLog.allow()) return;
    uint64_t suppressed = netLog.takeSuppressed();
    if (suppressed > 0) {
      log::logger().warn("{} err={} suppressed={}", event, log::quote(err), suppressed);
    } else {
      log::logger().warn("{} err={}", event, log::quote(err));
    }
  }

  // Deferred destruction: a stream or client may be torn down from inside its own callback.
  template <typename T>
  void retire(std::shared_ptr<T> thing) {
    if (thing) loop.post([thing] {});
  }

  // Returns true when the URL changed (the old connection is dropped).
  bool setUrl(const std::string& next) {
    if (next.empty() || next == url) return false;
    url = next;
    status.controlUrl = next;
    serverKey.reset();
    dropClient();
    if (!waiters.empty()) dial();  // they were waiting for the old URL's dial
    return true;
  }

  // ---- connection management ------------------------------------------------------------
  void withConnection(ClientFn fn) {
    if (url.empty()) return fn(Error::invalid("no control URL configured"));
    if (client && connected) return fn(client.get());
    waiters.push_back(std::move(fn));
    if (!dialing) dial();
  }

  void dial() {
    dialing = true;
    uint64_t gen = ++connGen;
    if (loggedDialUrl != url) {
      log::logger().info("control.dial url={}", log::quote(url));
      loggedDialUrl = url;
    } else {
      log::logger().debug("control.dial url={}", log::quote(url));
    }
    std::weak_ptr<Impl> self = weak_from_this();
    if (serverKey) return connectNoise(gen);
    net::HttpClientOptions http;
    http.extraCaFile = opts.extraCaFile;
    net::fetchServerKey(loop, url, CAPVER, http, [self, gen](Result<controlbase::ServerKeys> keys) {
      auto s = self.lock();
      if (!s || gen != s->connGen) return;
      if (!keys) return s->dialFailed("fetch control key from " + s->url + ": " + keys.error().message);
      auto noise = controlbase::noiseKeyOf(*keys);
      if (!noise) return s->dialFailed(noise.error().message);
      s->serverKey = *noise;
      s->connectNoise(gen);
    });
  }

  void connectNoise(uint64_t gen) {
    net::Ts2021ClientOptions o;
    o.controlUrl = url;
    o.machineKey = machineKey.clone();
    o.controlPublic = *serverKey;
    o.capver = CAPVER;
    o.extraCaFile = opts.extraCaFile;
    std::weak_ptr<Impl> self = weak_from_this();
    net::Ts2021Client::Callbacks cb;
    // No onEarlyPayload: like Go's client we ignore the node-key challenge (libs/net reads it).
    cb.onClosed = [self, gen](Error e) {
      auto s = self.lock();
      if (!s || gen != s->connGen) return;
      s->warnNet("control.connection_lost", e.message);
      s->dropClient();
    };
    client = std::shared_ptr<net::Ts2021Client>(net::Ts2021Client::create(loop, std::move(o), std::move(cb)));
    connected = false;
    client->connect([self, gen](Result<void> r) {
      auto s = self.lock();
      if (!s || gen != s->connGen) return;
      if (!r) return s->dialFailed("connect to " + s->url + ": " + r.error().message);
      s->connected = true;
      s->dialing = false;
      auto info = s->client->info();
      log::logger().info("control.connected url={} tls={} port={}", log::quote(s->url), info.viaTls, info.port);
      s->setHealth(ClientHealth::OK, "connected to control");
      auto pending = std::move(s->waiters);
      s->waiters.clear();
      for (auto& fn : pending) {
        if (!s->client || !s->connected) {
          fn(Error::disconnected("control connection lost"));
        } else {
          fn(s->client.get());
        }
      }
    });
  }

  void dialFailed(const std::string& message) {
    dialing = false;
    // The server may have restarted with a new key: ask /key again next time.
    serverKey.reset();
    dropClient();
    warnNet("control.dial_failed", message);
    status.lastError = message;
    setHealth(ClientHealth::DEGRADED, "control unreachable: " + message);
    publishStatus();
    auto pending = std::move(waiters);
    waiters.clear();
    for (auto& fn : pending) fn(Error::disconnected(message));
  }

  void dropClient() {
    ++connGen;
    connected = false;
    dialing = false;
    if (!client) return;
    auto old = std::move(client);
    client.reset();
    old->close();  // pending requests and streams fail with DISCONNECTED
    retire(old);
  }

  // ---- login ------------------------------------------------------------------------------
  void cancelLogin(const std::string& reason) {
    loginRetry.reset();
    ++loginId;
    loginActive = false;
    followupUrl.clear();
    if (loginDone) {
      auto done = std::move(loginDone);
      loginDone = nullptr;
      done(Error::failed(reason));
    }
  }

  void replyLogin(Result<LoginResult> r) {
    if (!loginDone) return;
    auto done = std::move(loginDone);
    loginDone = nullptr;
    done(std::move(r));
  }

  void login(LoginInput in, std::function<void(Result<LoginResult>)> done) {
    cancelLogin("superseded by a new login");
    Hostinfo hi;
    if (!in.hostinfoJson.empty()) {
      auto parsed = hostinfoFromJson(in.hostinfoJson);
      if (!parsed) return done(Error::invalid("login: " + parsed.error().message));
      hi = std::move(*parsed);
    }
    if (in.nodePublic.isZero()) return done(Error::invalid("login: nodePublic is required"));
    if (!in.tags.empty()) hi.requestTags = in.tags;
    setUrl(in.controlUrl);
    if (url.empty()) return done(Error::invalid("login: no control URL"));
    loggedOutNode = {};
    uint64_t id = ++loginId;
    loginActive = true;
    loginDone = std::move(done);
    loginNode = in.nodePublic;
    loginOldNode = in.oldNodePublic;
    loginHostinfo = std::move(hi);
    loginEphemeral = in.ephemeral;
    loginBackoff.reset();
    status.phase = Phase::REGISTERING;
    status.authUrl.clear();
    status.lastError.clear();
    status.nodeKeyExpired = false;
    publishStatus();
    log::logger().info("login.start node={} old={} interactive={} authkey={}", loginNode.shortString(),
                       loginOldNode.shortString(), in.interactive, !in.authKey.empty());

    RegisterRequest req;
    req.nodeKey = loginNode;
    req.oldNodeKey = loginOldNode;
    if (!in.authKey.empty()) req.authKey = std::string(in.authKey.view());
    req.hostinfo = loginHostinfo;
    req.ephemeral = loginEphemeral;
    crypto::SecretString body = registerRequestJson(req);
    if (req.authKey) wipeString(*req.authKey);
    in.authKey.clear();  // the auth key is used once and dropped
    sendRegister(id, std::string(body.view()), opts.requestTimeout);
  }

  std::string followupBody() const {
    RegisterRequest req;
    req.nodeKey = loginNode;
    req.oldNodeKey = loginOldNode;
    req.followup = followupUrl;
    req.hostinfo = loginHostinfo;
    req.ephemeral = loginEphemeral;
    return std::string(registerRequestJson(req).view());
  }

  void sendRegister(uint64_t id, std::string body, std::chrono::milliseconds timeout) {
    std::weak_ptr<Impl> self = weak_from_this();
    auto shared = std::make_shared<std::string>(std::move(body));
    withConnection([self, id, shared, timeout](Result<net::Ts2021Client*> c) {
      auto s = self.lock();
      if (!s || id != s->loginId || !s->loginActive) return wipeString(*shared);
      if (!c) {
        wipeString(*shared);
        return s->registerFailed(id, "register: " + c.error().message);
      }
      net::H2Request req;
      req.path = "/machine/register";
      if (!s->loginOldNode.isZero()) req.headers.emplace_back("ts-lb", s->loginOldNode.toString());
      req.headers.emplace_back("ts-lb", s->loginNode.toString());
      req.body = std::move(*shared);
      (*c)->request(std::move(req), timeout, [self, id](Result<net::H2Response> r) {
        auto s2 = self.lock();
        if (!s2 || id != s2->loginId || !s2->loginActive) return;
        s2->onRegisterResponse(id, std::move(r));
      });
    });
  }

  void registerFailed(uint64_t id, const std::string& message) {
    warnNet("login.register_failed", message);
    status.lastError = message;
    if (loginDone) {
      loginActive = false;
      status.phase = status.loggedInNodePublic.empty() ? Phase::IDLE : Phase::LOGGED_IN;
      publishStatus();
      return replyLogin(Error::disconnected(message));
    }
    // The follow-up long-poll broke: keep waiting for the user, after a backoff.
    publishStatus();
    scheduleFollowup(id, loginBackoff.next());
  }

  void scheduleFollowup(uint64_t id, std::chrono::milliseconds delay) {
    std::weak_ptr<Impl> self = weak_from_this();
    loginRetry = loop.after(delay, [self, id] {
      auto s = self.lock();
      if (!s || id != s->loginId || !s->loginActive) return;
      s->sendRegister(id, s->followupBody(), s->opts.followupTimeout);
    });
  }

  void onRegisterResponse(uint64_t id, Result<net::H2Response> r) {
    if (!r) return registerFailed(id, "register: " + r.error().message);
    if (r->status != 200) return registerFailed(id, httpError("register", r->status, r->body));
    auto rr = decodeRegisterResponse(r->body);
    if (!rr) return registerFailed(id, "register: " + rr.error().message);

    if (!rr->error.empty()) {
      log::logger().warn("login.refused err={}", log::quote(rr->error));
      loginActive = false;
      status.lastError = rr->error;
      status.authUrl.clear();
      status.phase = status.loggedInNodePublic.empty() ? Phase::IDLE : Phase::LOGGED_IN;
      publishStatus();
      LoginResult out;
      out.error = rr->error;
      return replyLogin(std::move(out));
    }
    if (rr->nodeKeyExpired) {
      log::logger().info("login.node_key_expired node={}", loginNode.shortString());
      loginActive = false;
      status.nodeKeyExpired = true;
      status.phase = status.loggedInNodePublic.empty() ? Phase::IDLE : Phase::LOGGED_IN;
      publishStatus();
      LoginResult out;
      out.nodeKeyExpired = true;
      return replyLogin(std::move(out));
    }
    if (!rr->authUrl.empty()) {
      bool same = rr->authUrl == followupUrl;
      followupUrl = rr->authUrl;
      status.phase = Phase::WAITING_FOR_AUTH;
      status.authUrl = rr->authUrl;
      status.lastError.clear();
      publishStatus();
      if (!same) log::logger().info("login.auth_url url={}", log::quote(rr->authUrl));
      LoginResult out;
      out.authUrl = rr->authUrl;
      replyLogin(std::move(out));
      // Go backs off (to 30 s) when control repeats the same URL; a new URL goes at once.
      if (!same) loginBackoff.reset();
      scheduleFollowup(id, same ? loginBackoff.next() : std::chrono::milliseconds(0));
      return;
    }
    // Registered (Go: no error and no AuthURL is logged in, even when not yet authorized).
    loginActive = false;
    loginRetry.reset();
    followupUrl.clear();
    loginBackoff.reset();
    status.loggedInNodePublic = loginNode.toString();
    ++status.loginFinishedCount;
    status.machineAuthorized = rr->machineAuthorized;
    status.nodeKeyExpired = false;
    status.loginName = rr->login.loginName;
    status.userId = rr->user.id != 0 ? rr->user.id : rr->login.id;
    status.authUrl.clear();
    status.lastError.clear();
    status.phase = (poll && poll->delivering) ? Phase::MAP_POLLING : Phase::LOGGED_IN;
    log::logger().info("login.done node={} authorized={} count={}", loginNode.shortString(), rr->machineAuthorized,
                       status.loginFinishedCount);
    publishStatus();
    LoginResult out;
    out.registered = true;
    out.machineAuthorized = rr->machineAuthorized;
    out.loginName = rr->login.loginName;
    out.userId = status.userId;
    replyLogin(std::move(out));
  }

  // ---- logout -----------------------------------------------------------------------------
  void logout(const std::string& controlUrl, key::NodePublic node, std::function<void(Result<void>)> done) {
    cancelLogin("logged out");
    stopPoll();
    setUrl(controlUrl);
    if (node.isZero()) return done(Error::invalid("logout: nodePublic is required"));
    loggedOutNode = node;
    RegisterRequest req;
    req.nodeKey = node;
    req.expiry = LOGOUT_EXPIRY;
    req.hostinfo = cfg ? cfgHostinfo : loginHostinfo;
    auto body = std::make_shared<std::string>(std::string(registerRequestJson(req).view()));
    log::logger().info("logout.start node={}", node.shortString());
    std::weak_ptr<Impl> self = weak_from_this();
    withConnection([self, body, node, done = std::move(done)](Result<net::Ts2021Client*> c) {
      auto s = self.lock();
      if (!s) return;
      if (!c) return done(Error::disconnected("logout: " + c.error().message));
      net::H2Request req;
      req.path = "/machine/register";
      req.headers.emplace_back("ts-lb", node.toString());
      req.body = *body;
      (*c)->request(std::move(req), s->opts.requestTimeout, [self, done](Result<net::H2Response> r) {
        auto s2 = self.lock();
        if (!s2) return;
        if (!r) return done(Error::disconnected("logout: " + r.error().message));
        if (r->status != 200) return done(Error::failed(httpError("logout", r->status, r->body)));
        auto rr = decodeRegisterResponse(r->body);
        if (!rr) return done(Error::failed("logout: " + rr.error().message));
        if (!rr->error.empty()) return done(Error::failed(rr->error));
        s2->status.phase = Phase::IDLE;
        s2->status.loggedInNodePublic.clear();
        s2->status.authUrl.clear();
        s2->status.machineAuthorized = false;
        s2->status.mapConnected = false;
        s2->status.loginName.clear();
        s2->status.userId = 0;
        s2->status.lastError.clear();
        log::logger().info("logout.done");
        s2->publishStatus();
        done({});
      });
    });
  }

  // ---- config -----------------------------------------------------------------------------
  static bool liteFieldsDiffer(const ConfigInput& a, const ConfigInput& b) {
    return a.hostinfoJson != b.hostinfoJson || a.netInfoJson != b.netInfoJson || a.preferredDerp != b.preferredDerp ||
           a.discoPublic != b.discoPublic || a.endpoints.size() != b.endpoints.size() ||
           a.endpointTypes != b.endpointTypes ||
           !std::equal(a.endpoints.begin(), a.endpoints.end(), b.endpoints.begin(),
                       [](const ipn::IpAddrPort& x, const ipn::IpAddrPort& y) { return x.toString() == y.toString(); });
  }

  bool wantPoll() const {
    return cfg && cfg->wantRunning && !cfg->nodePublic.isZero() && !cfg->discoPublic.isZero() &&
           cfg->nodePublic != loggedOutNode;
  }

  Result<std::pair<uint64_t, uint64_t>> setConfig(ConfigInput next) {
    if (cfg && (next.generationEpoch < cfg->generationEpoch ||
                (next.generationEpoch == cfg->generationEpoch && next.generationN < cfg->generationN))) {
      log::logger().debug("config.stale epoch={} n={}", next.generationEpoch, next.generationN);
      return std::make_pair(cfg->generationEpoch, cfg->generationN);
    }
    Hostinfo hi;
    if (!next.hostinfoJson.empty()) {
      TNET_TRY(hi, hostinfoFromJson(next.hostinfoJson));
    }
    std::optional<NetInfo> ni;
    if (!next.netInfoJson.empty()) {
      TNET_TRY(ni, netInfoFromJson(next.netInfoJson));
    }
    if (next.endpointTypes.size() != next.endpoints.size()) {
      return Error::invalid("setConfig: endpoints and their types differ in length");
    }
    bool liteChanged = !cfg || liteFieldsDiffer(*cfg, next);
    cfg = std::move(next);
    cfgHostinfo = std::move(hi);
    cfgNetInfo = std::move(ni);
    bool urlChanged = setUrl(cfg->controlUrl);
    if (!wantPoll()) {
      if (pollWanted) stopPoll();
    } else if (!pollWanted || pollNode != cfg->nodePublic || urlChanged) {
      startPoll();
      sendLite();  // Go's restartMap also bumps the update generation
    } else if (liteChanged) {
      sendLite();
    }
    return std::make_pair(cfg->generationEpoch, cfg->generationN);
  }

  MapRequest baseMapRequest() const {
    MapRequest req;
    req.nodeKey = cfg->nodePublic;
    req.discoKey = cfg->discoPublic;
    req.hostinfo = cfgHostinfo;
    if (cfgNetInfo || cfg->preferredDerp != 0) {
      NetInfo ni = cfgNetInfo.value_or(NetInfo{});
      if (cfg->preferredDerp != 0) ni.preferredDerp = cfg->preferredDerp;
      req.hostinfo.netInfo = ni;
    }
    req.endpoints = cfg->endpoints;
    req.endpointTypes = cfg->endpointTypes;
    return req;
  }

  // ---- map poll ---------------------------------------------------------------------------
  void startPoll() {
    stopPoll();
    pollWanted = true;
    pollNode = cfg->nodePublic;
    pollBackoff.reset();
    log::logger().info("map.poll.start node={}", pollNode.shortString());
    openPoll();
  }

  void stopPoll() {
    bool was = pollWanted || poll;
    pollWanted = false;
    ++pollSeq;
    pollRetry.reset();
    retirePoll();
    if (!was) return;
    status.mapConnected = false;
    if (status.phase == Phase::MAP_POLLING || status.phase == Phase::RECONNECTING) {
      status.phase = status.loggedInNodePublic.empty() ? Phase::IDLE : Phase::LOGGED_IN;
    }
    publishStatus();
  }

  void retirePoll() {
    if (!poll) return;
    retire(std::shared_ptr<Poll>(std::move(poll)));
  }

  void openPoll() {
    uint64_t id = ++pollSeq;
    std::weak_ptr<Impl> self = weak_from_this();
    withConnection([self, id](Result<net::Ts2021Client*> c) {
      auto s = self.lock();
      if (!s || id != s->pollSeq || !s->pollWanted) return;
      if (!c) return s->pollFailed(id, "map poll: " + c.error().message, false);
      s->sendPoll(id, **c);
    });
  }

  void sendPoll(uint64_t id, net::Ts2021Client& c) {
    retirePoll();
    poll = std::make_unique<Poll>(id, opts.maxMapFrame);
    net::H2Request req;
    req.path = "/machine/map";
    req.headers.emplace_back("ts-lb", cfg->nodePublic.toString());
    req.body = mapRequestJson(streamingMapRequest(baseMapRequest(), opts.compressZstd));
    std::weak_ptr<Impl> self = weak_from_this();
    armWatchdog(id);
    poll->stream = c.stream(
        std::move(req),
        [self, id](int httpStatus, const net::HeaderList&) {
          auto s = self.lock();
          if (s && s->poll && s->poll->id == id) s->poll->httpStatus = httpStatus;
        },
        [self, id](std::span<const uint8_t> data) {
          auto s = self.lock();
          if (s) s->onPollData(id, data);
        },
        [self, id](Result<void> end) {
          auto s = self.lock();
          if (s) s->onPollEnd(id, std::move(end));
        });
  }

  void armWatchdog(uint64_t id) {
    std::weak_ptr<Impl> self = weak_from_this();
    auto timeout = opts.mapSilenceTimeout;
    poll->watchdog = loop.after(timeout, [self, id, timeout] {
      auto s = self.lock();
      if (!s) return;
      s->pollFailed(id,
                    "map poll: no message from control for " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                        " ms",
                    true);
    });
  }

  void onPollData(uint64_t id, std::span<const uint8_t> data) {
    if (!poll || poll->id != id) return;
    if (poll->httpStatus != 200) {
      size_t room = MAX_ERROR_BODY - std::min(MAX_ERROR_BODY, poll->errorBody.size());
      poll->errorBody.append(reinterpret_cast<const char*>(data.data()), std::min(room, data.size()));
      return;
    }
    armWatchdog(id);
    if (auto fed = poll->reader.feed(ByteSpan(data.data(), data.size())); !fed) {
      return pollFailed(id, "map stream: " + fed.error().message, true);
    }
    while (poll && poll->id == id) {
      auto frame = poll->reader.next();
      if (!frame) break;
      if (auto handled = handleFrame(*frame); !handled) return pollFailed(id, handled.error().message, true);
    }
  }

  Result<void> handleFrame(const Bytes& frame) {
    using Ms = std::chrono::duration<double, std::milli>;
    auto t0 = std::chrono::steady_clock::now();
    std::string json;
    if (opts.compressZstd) {
      auto plain = zstdDecompressFrame(frame, MAX_DECOMPRESSED_MAP);
      if (!plain) return Error::invalid("map stream: " + plain.error().message);
      json = std::move(*plain);
    } else {
      json.assign(reinterpret_cast<const char*>(frame.data()), frame.size());
    }
    auto resp = decodeMapResponse(json);
    if (!resp) return Error::invalid("map response: " + resp.error().message);
    auto t1 = std::chrono::steady_clock::now();
    auto applied = poll->session.apply(std::move(*resp), static_cast<int64_t>(std::time(nullptr)));
    if (!applied) return Error::invalid("map response: " + applied.error().message);
    auto t2 = std::chrono::steady_clock::now();
    if (!poll->delivering) {
      poll->delivering = true;
      pollBackoff.reset();
      status.mapConnected = true;
      status.phase = Phase::MAP_POLLING;
      status.lastError.clear();
      log::logger().info("map.poll.connected node={}", pollNode.shortString());
      setHealth(ClientHealth::OK, "map poll running");
      publishStatus();
    }
    if (applied->changed && poll->session.netmap() != nullptr) schedulePublish(poll->id);
    log::logger().trace("map.frame frame_bytes={} json_bytes={} decode_ms={:.1f} apply_ms={:.1f}", frame.size(),
                        json.size(), Ms(t1 - t0).count(), Ms(t2 - t1).count());
    if (applied->ping) answerPing(*applied->ping);
    if (!applied->popBrowserUrl.empty()) {
      log::logger().info("map.pop_browser_url url={}", log::quote(applied->popBrowserUrl));
    }
    return {};
  }

  // Frames that arrive together (one read, or a burst of deltas) become one publication: each
  // one serialises the whole map, which for 10k peers costs far more than applying a delta.
  void schedulePublish(uint64_t id) {
    if (publishPending) return;
    publishPending = true;
    std::weak_ptr<Impl> self = weak_from_this();
    loop.post([self, id] {
      auto s = self.lock();
      if (!s) return;
      s->publishPending = false;
      if (!s->poll || s->poll->id != id || s->poll->session.netmap() == nullptr || !s->sink.onNetmap) return;
      const NetworkMap& nm = *s->poll->session.netmap();
      auto t0 = std::chrono::steady_clock::now();
      s->sink.onNetmap(nm, ++s->netmapGeneration);
      // The serialised map was large and is gone: hand the freed pages back instead of
      // keeping the high-water mark resident.
      malloc_trim(0);
      log::logger().debug("map.netmap gen={} peers={} publish_ms={:.1f}", s->netmapGeneration, nm.peers.size(),
                          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    });
  }

  void onPollEnd(uint64_t id, Result<void> end) {
    if (!poll || poll->id != id) return;
    if (poll->httpStatus != 0 && poll->httpStatus != 200) {
      return pollFailed(id, httpError("map poll", poll->httpStatus, poll->errorBody), false);
    }
    if (!end) return pollFailed(id, "map stream: " + end.error().message, false);
    if (poll->reader.pending() > 0) {
      return pollFailed(id, "map stream ended inside a frame (" + std::to_string(poll->reader.pending()) + " bytes)",
                        true);
    }
    pollFailed(id, "map stream ended by control", false);
  }

  void pollFailed(uint64_t id, const std::string& message, bool dropConnection) {
    if (id != pollSeq || !pollWanted) return;
    ++pollSeq;  // anything still in flight for this attempt is stale now
    warnNet("map.poll.failed", message);
    retirePoll();
    status.mapConnected = false;
    status.phase = Phase::RECONNECTING;
    status.lastError = message;
    // A dial failure already said "control unreachable"; keep that more useful line.
    if (health != ClientHealth::DEGRADED) setHealth(ClientHealth::DEGRADED, "map poll failing: " + message);
    publishStatus();
    if (dropConnection) dropClient();
    std::weak_ptr<Impl> self = weak_from_this();
    auto delay = pollBackoff.next();
    log::logger().debug("map.poll.retry in_ms={}", delay.count());
    pollRetry = loop.after(delay, [self] {
      auto s = self.lock();
      if (s && s->pollWanted) s->openPoll();
    });
  }

  // ---- lite updates -----------------------------------------------------------------------
  void sendLite() {
    uint64_t gen = ++liteGen;
    liteRetry.reset();
    std::weak_ptr<Impl> self = weak_from_this();
    withConnection([self, gen](Result<net::Ts2021Client*> c) {
      auto s = self.lock();
      if (!s || gen != s->liteGen || !s->pollWanted) return;
      if (!c) return s->liteFailed(gen, c.error().message);
      net::H2Request req;
      req.path = "/machine/map";
      req.headers.emplace_back("ts-lb", s->cfg->nodePublic.toString());
      req.body = mapRequestJson(liteMapRequest(s->baseMapRequest()));
      (*c)->request(std::move(req), s->opts.requestTimeout, [self, gen](Result<net::H2Response> r) {
        auto s2 = self.lock();
        if (!s2 || gen != s2->liteGen) return;
        if (!r) return s2->liteFailed(gen, r.error().message);
        if (r->status != 200) return s2->liteFailed(gen, httpError("lite map update", r->status, r->body));
        s2->liteBackoff.reset();
        log::logger().debug("map.lite.sent");
      });
    });
  }

  void liteFailed(uint64_t gen, const std::string& message) {
    warnNet("map.lite.failed", message);
    std::weak_ptr<Impl> self = weak_from_this();
    liteRetry = loop.after(liteBackoff.next(), [self, gen] {
      auto s = self.lock();
      if (s && gen == s->liteGen && s->pollWanted) s->sendLite();
    });
  }

  // ---- PingRequest (Go's answerPing; only the HEAD "are you alive" kind) -----------------
  void answerPing(const PingRequest& ping) {
    if (!ping.types.empty()) {
      log::logger().info("ping.unsupported types={}", log::quote(ping.types));
      return;
    }
    auto target = net::parseUrl(ping.url);
    if (!target) {
      warnNet("ping.bad_url", target.error().message);
      return;
    }
    if (ping.urlIsNoise) {
      log::logger().info("ping.answer via=noise path={}", log::quote(target->target));
      std::weak_ptr<Impl> self = weak_from_this();
      std::string path = target->target;
      withConnection([self, path](Result<net::Ts2021Client*> c) {
        auto s = self.lock();
        if (!s || !c) return;
        net::H2Request req;
        req.method = "HEAD";
        req.path = path;
        (*c)->request(std::move(req), PING_TIMEOUT, [](Result<net::H2Response> r) {
          if (!r) {
            log::logger().warn("ping.failed err={}", log::quote(r.error().message));
          } else {
            log::logger().debug("ping.done status={}", r->status);
          }
        });
      });
      return;
    }
    // Over plain HTTP(S) only to control's own host: a PingRequest must not make us fetch
    // arbitrary URLs.
    auto control = net::parseUrl(url);
    if (!control || control->host != target->host) {
      log::logger().warn("ping.refused url={} reason=not_control_host", log::quote(ping.url));
      return;
    }
    log::logger().info("ping.answer via=https url={}", log::quote(ping.url));
    net::HttpClientOptions http;
    http.timeout = PING_TIMEOUT;
    http.extraCaFile = opts.extraCaFile;
    net::httpGet(loop, ping.url, http, [](Result<net::HttpResponse> r) {
      if (!r) {
        log::logger().warn("ping.failed err={}", log::quote(r.error().message));
      } else {
        log::logger().debug("ping.done status={}", r->status);
      }
    });
  }

  void shutdown() {
    loginRetry.reset();
    pollRetry.reset();
    liteRetry.reset();
    poll.reset();
    waiters.clear();
    ++connGen;
    client.reset();  // the destructor runs no callbacks
  }
};

ControlClient::ControlClient(bus::Loop& loop, key::MachinePrivate machineKey, ControlClientOptions options,
                             ControlClientSink sink)
    : impl_(std::make_shared<Impl>(loop, std::move(machineKey), std::move(options), std::move(sink))) {}

ControlClient::~ControlClient() { impl_->shutdown(); }

void ControlClient::login(LoginInput input, std::function<void(Result<LoginResult>)> done) {
  impl_->login(std::move(input), std::move(done));
}

void ControlClient::logout(std::string controlUrl, key::NodePublic nodePublic, std::function<void(Result<void>)> done) {
  impl_->logout(controlUrl, nodePublic, std::move(done));
}

Result<std::pair<uint64_t, uint64_t>> ControlClient::setConfig(ConfigInput config) {
  return impl_->setConfig(std::move(config));
}

const ControlStatusValue& ControlClient::status() const { return impl_->status; }

bool ControlClient::pollRunning() const { return impl_->pollWanted; }

const char* phaseText(Phase p) { return phaseName(p); }

}  // namespace tnet::controld
