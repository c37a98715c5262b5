#include "tests/integration/testcontrol/map_frame_writer.h"

#include <zstd.h>

#include <cassert>

#include "libs/base/bytes.h"

namespace tnet::testcontrol {

// One compression context reused for every frame (each frame is still independent: Go's client
// decodes each payload on its own). Level 1 is zstd's fastest, as Go's "FastestCompression".
struct MapFrameWriter::Ctx {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~Ctx() { ZSTD_freeCCtx(cctx); }
};

MapFrameWriter::MapFrameWriter() : ctx_(std::make_unique<Ctx>()) {
  assert(ctx_->cctx != nullptr);
}
MapFrameWriter::~MapFrameWriter() = default;

Result<std::string> MapFrameWriter::frame(std::string_view json, bool zstd) {
  std::string out;
  if (!zstd) {
    if (json.size() > MAX_MAP_MESSAGE)
      return Error::overloaded("map message too big: " + std::to_string(json.size()));
    out.resize(4 + json.size());
    putU32LE(reinterpret_cast<uint8_t*>(out.data()), uint32_t(json.size()));
    std::copy(json.begin(), json.end(), out.begin() + 4);
    return out;
  }
  out.resize(4 + ZSTD_compressBound(json.size()));
  size_t n = ZSTD_compressCCtx(ctx_->cctx, out.data() + 4, out.size() - 4, json.data(), json.size(), 1);
  if (ZSTD_isError(n)) return Error::failed(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n > MAX_MAP_MESSAGE) return Error::overloaded("map message too big: " + std::to_string(n));
  out.resize(4 + n);
  putU32LE(reinterpret_cast<uint8_t*>(out.data()), uint32_t(n));
  return out;
}

}  // namespace tnet::testcontrol
