// Where the core gets randomness (ephemeral keys, session indices, cookie secrets and nonces,
// timer jitter). Production uses the system CSPRNG; tests and the fuzzer script it, so known-answer
// vectors can be reproduced through the whole Device and fuzz runs are repeatable.
#pragma once

#include "libs/base/bytes.h"

namespace tnet::wg {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(MutableByteSpan out) = 0;
};

// libsodium's randombytes (crypto::init() must have run).
class SystemRandom final : public RandomSource {
 public:
  void fill(MutableByteSpan out) override;
};

}  // namespace tnet::wg
