// One map payload compressed as exactly one zstd frame (MapRequest.Compress "zstd"). Kept apart
// from the framing reader so the fuzz build (which has no libzstd) can fuzz framing + JSON.
#pragma once

#include <cstddef>
#include <string>

#include "libs/base/bytes.h"
#include "libs/base/result.h"

namespace tnet::controld {

// Decompresses one complete zstd frame into at most `maxOut` bytes; a frame that declares or
// produces more, trailing bytes, or a damaged frame is Error::invalid.
Result<std::string> zstdDecompressFrame(ByteSpan frame, size_t maxOut);

}  // namespace tnet::controld
