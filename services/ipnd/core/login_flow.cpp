// The node-key lifecycle (ARCHITECTURE.md §Keys) on top of Go's control-client operations:
// every login that needs a new key prepares one in wgd, registers it with controld (NodeKey,
// OldNodeKey = the committed key), and commits it only when control accepted it without an
// AuthURL, or when controld reports that the AuthURL login finished. HaveNodeKey is the
// persisted committed key; logout expires it at control and forgets it.
#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {

void Backend::ccLogin(bool interactive) {
  loginGoalPending_ = true;
  loginWaitingForUrl_ = false;
  controlRequests_.push_back({interactive ? ControlRequest::Kind::LOGIN_INTERACTIVE : ControlRequest::Kind::LOGIN,
                              controlUrl(),
                              {}});
  if (!interactive && haveNodeKey() && !facts().keyExpired) {
    // Go re-registers the current key at start. Here controld resumes with the committed key
    // it gets from controld.setConfig: the map poll starts once the disco key is known too.
    configDirty_ = true;
    return;
  }
  beginKeyLogin(interactive);
}

void Backend::beginKeyLogin(bool interactive) {
  endKeyLogin();
  loginStage_ = LoginStage::PREPARING;
  loginInteractive_ = interactive;
  loginProblem_.reset();
  keySteps_.push_back({KeyStep::Kind::PREPARE_KEY, loginAttempt_, {}, {}, {}, {}, false});
}

void Backend::endKeyLogin() {
  // Outcomes of the attempt that ends here are stale from now on.
  ++loginAttempt_;
  loginStage_ = LoginStage::NONE;
  pendingKey_.clear();
}

void Backend::loginFailed(const std::string& healthLine) {
  loginProblem_ = healthLine;
  keySteps_.push_back({KeyStep::Kind::DISCARD_PENDING, loginAttempt_, {}, {}, {}, {}, false});
  endKeyLogin();
  loginGoalPending_ = false;
  loginWaitingForUrl_ = false;
  ipn::Notify n = baseNotify();
  n.health = healthWarnings();
  send(std::move(n));
  stateMachine();
}

void Backend::sendErrMessage(const std::string& message) {
  ipn::Notify n = baseNotify();
  n.errMessage = message;
  send(std::move(n));
}

void Backend::onKeyPrepared(uint64_t attempt, const std::string& nodePublic) {
  if (attempt != loginAttempt_ || loginStage_ != LoginStage::PREPARING) return;
  pendingKey_ = nodePublic;
  loginStage_ = LoginStage::REGISTERING;
  KeyStep login{KeyStep::Kind::LOGIN, attempt, controlUrl(), nodePublic, {}, startAuthKey_, false};
  if (nodePublicKey_ && *nodePublicKey_ != nodePublic) login.oldNodePublic = *nodePublicKey_;
  // An auth key registers without a browser, as Go's doLogin sends Auth with the key.
  login.interactive = loginInteractive_ && startAuthKey_.empty();
  keySteps_.push_back(std::move(login));
}

void Backend::onLoginReply(uint64_t attempt, const LoginResult& r, int64_t nowUnixMs) {
  if (attempt != loginAttempt_ || loginStage_ != LoginStage::REGISTERING) return;
  if (!r.error.empty()) {
    // Control's own words reach the user (Go's UserVisibleError → Notify.ErrMessage).
    sendErrMessage(r.error);
    loginFailed("login failed: " + r.error);
    return;
  }
  if (r.registered) {
    loginStage_ = LoginStage::COMMITTING;
    keySteps_.push_back({KeyStep::Kind::COMMIT_KEY, attempt, {}, pendingKey_, {}, {}, false});
    return;
  }
  if (!r.authUrl.empty()) {
    loginStage_ = LoginStage::WAITING_URL;
    onAuthUrl(r.authUrl, nowUnixMs);
    return;
  }
  loginFailed("login failed: control answered with neither a registration nor an auth URL");
}

void Backend::onKeyCommitted(uint64_t attempt, const std::string& nodePublic) {
  if (attempt != loginAttempt_ || loginStage_ != LoginStage::COMMITTING || nodePublic != pendingKey_) return;
  endKeyLogin();
  startAuthKey_.clear();  // used: never kept longer than the login that needed it
  controlKeyExpired_ = false;
  loginProblem_.reset();
  configDirty_ = true;
  onLoginSucceeded(nodePublic);
}

void Backend::onKeyStepFailed(uint64_t attempt, KeyStep::Kind kind, const std::string& message) {
  if (attempt != loginAttempt_) return;
  switch (kind) {
    case KeyStep::Kind::PREPARE_KEY:
      if (loginStage_ == LoginStage::PREPARING) loginFailed("login failed: wgd.prepareNodeKey: " + message);
      return;
    case KeyStep::Kind::LOGIN:
      if (loginStage_ == LoginStage::REGISTERING) loginFailed("login failed: controld.login: " + message);
      return;
    case KeyStep::Kind::COMMIT_KEY:
      if (loginStage_ == LoginStage::COMMITTING) loginFailed("login failed: wgd.commitNodeKey: " + message);
      return;
    case KeyStep::Kind::LOGOUT:
      loginProblem_ = "logout: control was not told: " + message;
      return;
    case KeyStep::Kind::DISCARD_PENDING:
      return;  // wgd drops a stale pending key on the next prepare anyway
  }
}

void Backend::onControlStatus(const ControlStatusFacts& st, int64_t nowUnixMs) {
  bool newEpoch = !controlStatus_ || controlStatus_->epoch != st.epoch;
  bool waiting = loginStage_ == LoginStage::REGISTERING || loginStage_ == LoginStage::WAITING_URL;
  bool finished = newEpoch ? st.loginFinishedCount > 0 && waiting
                           : st.loginFinishedCount > controlStatus_->loginFinishedCount;
  std::string prevError = controlStatus_ ? controlStatus_->lastError : std::string();
  controlStatus_ = st;

  if (finished && waiting && !pendingKey_.empty() && st.loggedInNodePublic == pendingKey_) {
    loginStage_ = LoginStage::COMMITTING;
    keySteps_.push_back({KeyStep::Kind::COMMIT_KEY, loginAttempt_, {}, pendingKey_, {}, {}, false});
  } else if (loginStage_ == LoginStage::WAITING_URL && !st.authUrl.empty() && st.authUrl != authUrl_) {
    onAuthUrl(st.authUrl, nowUnixMs);  // control handed out a new URL on the follow-up
  }
  // controld's lastError mixes control's own words with "unreachable": Go sends ErrMessage
  // only for the first kind (and `up` exits on it), so a status error is a Health line; the
  // register error in controld.login's reply is the ErrMessage.
  if (st.lastError != prevError || newEpoch) {
    setServiceProblem("controld-control",
                      st.lastError.empty() ? std::nullopt : std::optional<std::string>("control: " + st.lastError));
  }
  if (st.nodeKeyExpired != controlKeyExpired_ && haveNodeKey() && loginStage_ == LoginStage::NONE) {
    controlKeyExpired_ = st.nodeKeyExpired;
  }
  stateMachine();
}

void Backend::setServiceProblem(const std::string& service, std::optional<std::string> problem) {
  auto it = serviceProblems_.find(service);
  std::optional<std::string> cur;
  if (it != serviceProblems_.end()) cur = it->second;
  if (cur == problem) return;
  if (problem) {
    serviceProblems_[service] = *problem;
  } else {
    serviceProblems_.erase(service);
  }
  ipn::Notify n = baseNotify();
  n.health = healthWarnings();
  send(std::move(n));
}

}  // namespace tnet::ipnd
