// The map stream's framing on the server side: [u32 little-endian length][payload], the payload
// being the JSON itself or exactly one zstd frame of it (MapRequest.Compress "zstd").
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::testcontrol {

// Go's testcontrol refuses to send a map message larger than this.
inline constexpr size_t MAX_MAP_MESSAGE = 256u << 20;

class MapFrameWriter {
 public:
  MapFrameWriter();
  ~MapFrameWriter();
  MapFrameWriter(const MapFrameWriter&) = delete;
  MapFrameWriter& operator=(const MapFrameWriter&) = delete;

  // One framed message. Fails (overloaded) past MAX_MAP_MESSAGE.
  Result<std::string> frame(std::string_view json, bool zstd);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace tnet::testcontrol
