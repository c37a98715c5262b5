#include "services/controld/core/zstd_frame.h"

#include <zstd.h>

#include <memory>

namespace tnet::controld {

Result<std::string> zstdDecompressFrame(ByteSpan frame, size_t maxOut) {
  size_t compressed = ZSTD_findFrameCompressedSize(frame.data(), frame.size());
  if (ZSTD_isError(compressed)) return Error::invalid("map payload is not a complete zstd frame");
  if (compressed != frame.size()) return Error::invalid("trailing bytes after the zstd frame");
  unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR && declared > maxOut) {
    return Error::invalid("zstd frame declares " + std::to_string(declared) +
                          " bytes, over the limit of " + std::to_string(maxOut));
  }
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!ctx) return Error::failed("zstd: out of memory");
  // Bound the decoder's window too (a hostile frame could ask for 2 GiB).
  ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, 27);
  std::string out;
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
    out.reserve(static_cast<size_t>(declared));
  }
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  std::string chunk(64 * 1024, '\0');
  for (;;) {
    ZSTD_outBuffer ob{chunk.data(), chunk.size(), 0};
    size_t rc = ZSTD_decompressStream(ctx.get(), &ob, &in);
    if (ZSTD_isError(rc)) return Error::invalid(std::string("zstd: ") + ZSTD_getErrorName(rc));
    if (out.size() + ob.pos > maxOut) {
      return Error::invalid("decompressed map payload exceeds the limit of " + std::to_string(maxOut));
    }
    out.append(chunk.data(), ob.pos);
    if (rc == 0) break;  // frame complete
    if (in.pos == in.size && ob.pos < ob.size) return Error::invalid("truncated zstd frame");
  }
  return out;
}

}  // namespace tnet::controld
