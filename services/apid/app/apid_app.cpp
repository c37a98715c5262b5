#include "services/apid/app/apid_app.h"

#include <fcntl.h>
#include <kj/exception.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "libs/bus/bus.h"
#include "libs/log/log.h"
#include "schemas/ipnd.capnp.h"
#include "services/apid/app/localapi_server.h"
#include "services/apid/core/limits.h"

namespace tnet::apid {
namespace {

std::string_view textView(capnp::Text::Reader t) {
  return {t.cStr(), t.size()};
}

// ipnd.localapi over the bus (schemas/ipnd.capnp).
class BusIpndClient final : public IpndClient {
 public:
  explicit BusIpndClient(bus::Bus& bus) : bus_(bus) {}

  void localApi(const ForwardRequest& f, std::chrono::milliseconds deadline,
                std::function<void(Result<IpndReply>)> done) override {
    bus_.call(
        "ipnd", "ipnd.localapi",
        [&](capnp::AnyPointer::Builder b) {
          auto r = b.initAs<schema::LocalApiRequest>();
          r.setMethod(f.method);
          r.setPath(f.path);
          r.setQuery(f.query);
          r.setBody(capnp::Data::Reader(reinterpret_cast<const uint8_t*>(f.body.data()), f.body.size()));
          r.setCallerUid(f.callerUid);
          r.setCallerPid(f.callerPid);
          r.setCallerPrivileged(f.callerPrivileged);
          r.setNeedsWrite(f.needsWrite);
        },
        deadline,
        [done = std::move(done)](Result<bus::Reply> r) {
          if (!r) return done(r.error());
          IpndReply out;
          try {
            auto reply = r->as<schema::LocalApiReply>();
            out.status = reply.getStatus();
            out.contentType = std::string(textView(reply.getContentType()));
            auto body = reply.getBody();
            out.body.assign(reinterpret_cast<const char*>(body.begin()), body.size());
            out.notifySeq = reply.getNotifySeq();
          } catch (const kj::Exception& e) {
            return done(Error::failed("malformed reply from ipnd"));
          }
          done(std::move(out));
        });
  }

 private:
  bus::Bus& bus_;
};

struct AppState {
  std::unique_ptr<BusIpndClient> ipnd;
  std::unique_ptr<LocalApiServer> server;
  uint64_t ipndEpoch = 0;
  log::RateLimiter badNotifyLog{1.0, 5.0};
};

}  // namespace

AppOptions defaultAppOptions() {
  return {std::nullopt, std::chrono::milliseconds(IPND_DEADLINE_MS),
          std::chrono::milliseconds(HEADER_READ_TIMEOUT_MS)};
}

Result<int> inheritedListenSocket() {
  // sd_listen_fds checks LISTEN_PID against our pid and unsets the variables (so a child never
  // mistakes them for its own).
  int n = sd_listen_fds(1);
  if (n < 0) return Error::failed(std::string("LISTEN_FDS: ") + std::strerror(-n));
  if (n != 1) {
    return Error::invalid(
        "apid needs exactly one inherited LocalAPI socket (LISTEN_FDS=1, "
        "LISTEN_PID=<apid's pid>, fd 3); got " +
        std::to_string(n) + ". Start apid through tailnetd or tailnetd-apid.socket.");
  }
  int fd = SD_LISTEN_FDS_START;
  if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0) {
    return Error::invalid("fd 3 is not a listening AF_UNIX stream socket");
  }
  return fd;
}

Result<std::shared_ptr<void>> startApp(service::Service& svc, const AppOptions& options) {
  TNET_TRY(int fd, inheritedListenSocket());
  auto state = std::make_shared<AppState>();
  Policy policy;
  uint32_t self = static_cast<uint32_t>(getuid());
  // Without --owner-uid: our own uid when not root (the single-uid development suite), else
  // root only (uid 0 can never be an "owner" we would otherwise miss).
  policy.ownerUid = options.ownerUid.value_or(self);
  policy.version = TNET_VERSION;
  ServerOptions serverOptions = defaultServerOptions(policy);
  serverOptions.ipndDeadline = options.ipndTimeout;
  serverOptions.headerTimeout = options.headerTimeout;

  state->ipnd = std::make_unique<BusIpndClient>(svc.bus());
  TNET_TRY(auto server, LocalApiServer::create(svc.loop(), fd, std::move(serverOptions), *state->ipnd));
  state->server = std::move(server);

  AppState* raw = state.get();
  svc.bus().subscribe("ipnd.notify", [raw](const bus::Event& ev) {
    if (ev.fromSnapshot || !raw->server) return;
    try {
      auto n = ev.as<schema::Notify>();
      auto json = n.getJson();
      raw->server->onNotify(n.getSeq(), {reinterpret_cast<const char*>(json.begin()), json.size()});
    } catch (const kj::Exception&) {
      if (raw->badNotifyLog.allow()) log::logger().warn("apid.notify.malformed");
    }
  });
  svc.bus().onPeerEpoch("ipnd", [raw](uint64_t epoch) {
    // The first epoch we learn is not a restart; a later one is, and its Notify sequence
    // numbers start over, so open watch streams end (as when Go's tailscaled restarts).
    if (raw->ipndEpoch != 0 && raw->ipndEpoch != epoch && raw->server) raw->server->endWatches();
    raw->ipndEpoch = epoch;
  });
  svc.onShutdown([raw] {
    if (raw->server) raw->server->close();
  });
  svc.log().info("apid.listening fd={} owner_uid={} ipnd_timeout_ms={} header_timeout_ms={}", fd,
                 policy.ownerUid, options.ipndTimeout.count(), options.headerTimeout.count());
  svc.setHealth(service::HealthState::OK, "serving the LocalAPI");
  return std::shared_ptr<void>(state);
}

}  // namespace tnet::apid
