// ControlClient's answers to control's PingRequest (Go's answerPing; only the HEAD "are you
// alive" kind), over Noise or plain HTTP(S) to control's own host.
#include "libs/net/http_client.h"
#include "libs/net/url.h"
#include "services/controld/app/control_client_impl.h"

namespace tnet::controld {

namespace {

// Go's answerHeadPing timeout.
constexpr std::chrono::seconds PING_TIMEOUT{15};

}  // namespace

void ControlClient::Impl::answerPing(const PingRequest& ping) {
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

}  // namespace tnet::controld
