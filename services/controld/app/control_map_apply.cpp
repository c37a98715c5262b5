// ControlClient's map frames: decompress and decode one frame, apply it to the map session, and
// publish the resulting netmap (frames that arrive together become one publication).
#include <malloc.h>

#include <ctime>

#include "services/controld/app/control_client_impl.h"
#include "services/controld/core/map_decode.h"
#include "services/controld/core/zstd_frame.h"

namespace tnet::controld {

Result<void> ControlClient::Impl::handleFrame(const Bytes& frame) {
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
void ControlClient::Impl::schedulePublish(uint64_t id) {
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
    log::logger().debug(
        "map.netmap gen={} peers={} publish_ms={:.1f}", s->netmapGeneration, nm.peers.size(),
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  });
}

}  // namespace tnet::controld
