#include "services/wgd/core/random.h"

#include "libs/crypto/crypto.h"

namespace tnet::wg {

void SystemRandom::fill(MutableByteSpan out) {
  crypto::randomBytes(out);
}

}  // namespace tnet::wg
