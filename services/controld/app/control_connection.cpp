// ControlClient's connection: one ts2021 client per control URL, dialed on demand (GET /key,
// then Noise), shared by every request; a lost or failed connection fails its waiters.
#include "libs/net/http_client.h"
#include "libs/wire/controlbase_key.h"
#include "services/controld/app/control_client_impl.h"
#include "services/controld/core/capver.h"

namespace tnet::controld {

namespace {

constexpr uint16_t CAPVER = static_cast<uint16_t>(CAPABILITY_VERSION);

}  // namespace

// Returns true when the URL changed (the old connection is dropped).
bool ControlClient::Impl::setUrl(const std::string& next) {
  if (next.empty() || next == url) return false;
  url = next;
  status.controlUrl = next;
  serverKey.reset();
  dropClient();
  if (!waiters.empty()) dial();  // they were waiting for the old URL's dial
  return true;
}

void ControlClient::Impl::withConnection(ClientFn fn) {
  if (url.empty()) return fn(Error::invalid("no control URL configured"));
  if (client && connected) return fn(client.get());
  waiters.push_back(std::move(fn));
  if (!dialing) dial();
}

void ControlClient::Impl::dial() {
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

void ControlClient::Impl::connectNoise(uint64_t gen) {
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

void ControlClient::Impl::dialFailed(const std::string& message) {
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

void ControlClient::Impl::dropClient() {
  ++connGen;
  connected = false;
  dialing = false;
  if (!client) return;
  auto old = std::move(client);
  client.reset();
  old->close();  // pending requests and streams fail with DISCONNECTED
  retire(old);
}

}  // namespace tnet::controld
