// ControlClient's register flows (Go's direct.go doLogin): login, the interactive follow-up
// long-poll with its backoff, and logout (a register with an expiry in the past).
#include "services/controld/app/control_client_impl.h"
#include "services/controld/core/hostinfo_parse.h"
#include "services/controld/core/register_response.h"

namespace tnet::controld {

namespace {

// Go: time.Unix(123, 0), the "expire now" of a logout.
constexpr int64_t LOGOUT_EXPIRY = 123;

}  // namespace

void ControlClient::Impl::cancelLogin(const std::string& reason) {
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

void ControlClient::Impl::replyLogin(Result<LoginResult> r) {
  if (!loginDone) return;
  auto done = std::move(loginDone);
  loginDone = nullptr;
  done(std::move(r));
}

void ControlClient::Impl::login(LoginInput in, std::function<void(Result<LoginResult>)> done) {
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

std::string ControlClient::Impl::followupBody() const {
  RegisterRequest req;
  req.nodeKey = loginNode;
  req.oldNodeKey = loginOldNode;
  req.followup = followupUrl;
  req.hostinfo = loginHostinfo;
  req.ephemeral = loginEphemeral;
  return std::string(registerRequestJson(req).view());
}

void ControlClient::Impl::sendRegister(uint64_t id, std::string body, std::chrono::milliseconds timeout) {
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

void ControlClient::Impl::registerFailed(uint64_t id, const std::string& message) {
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

void ControlClient::Impl::scheduleFollowup(uint64_t id, std::chrono::milliseconds delay) {
  std::weak_ptr<Impl> self = weak_from_this();
  loginRetry = loop.after(delay, [self, id] {
    auto s = self.lock();
    if (!s || id != s->loginId || !s->loginActive) return;
    s->sendRegister(id, s->followupBody(), s->opts.followupTimeout);
  });
}

void ControlClient::Impl::onRegisterResponse(uint64_t id, Result<net::H2Response> r) {
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
  log::logger().info("login.done node={} authorized={} count={}", loginNode.shortString(),
                     rr->machineAuthorized, status.loginFinishedCount);
  publishStatus();
  LoginResult out;
  out.registered = true;
  out.machineAuthorized = rr->machineAuthorized;
  out.loginName = rr->login.loginName;
  out.userId = status.userId;
  replyLogin(std::move(out));
}

void ControlClient::Impl::logout(const std::string& controlUrl, key::NodePublic node,
                                 std::function<void(Result<void>)> done) {
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

}  // namespace tnet::controld
