// Fuzzes the key text and binary parsers (libs/wire/keys.h): every input either fails with an
// error or parses to a key whose canonical text parses back to the same key.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "libs/crypto/crypto.h"
#include "libs/wire/keys.h"

namespace {

#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

template <typename Public>
void checkPublic(std::string_view text) {
  auto k = Public::parse(text);
  if (!k) {
    FUZZ_CHECK(!k.error().message.empty());
    return;
  }
  const std::string canonical = k->toString();
  FUZZ_CHECK(canonical.size() == Public::PREFIX.size() + 64);
  auto again = Public::parse(canonical);
  FUZZ_CHECK(again && *again == *k);
  (void)k->shortString();
  auto untyped = Public::parseUntyped(k->untypedHex());
  FUZZ_CHECK(untyped && *untyped == *k);
}

template <typename Private>
void checkPrivate(std::string_view text) {
  auto k = Private::parse(text);
  if (!k) {
    // Errors never echo input (it may be a key): they are one of three fixed shapes.
    FUZZ_CHECK(k.error().message.find("key hex") == 0 || k.error().message == "invalid hex character in key");
    return;
  }
  auto canonical = k->toText();
  auto again = Private::parse(canonical.view());
  FUZZ_CHECK(again && again->equals(*k));
  if (!k->isZero()) (void)k->publicKey();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tnet::crypto::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tnet::key;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  checkPublic<MachinePublic>(text);
  checkPublic<NodePublic>(text);
  checkPublic<DiscoPublic>(text);
  checkPublic<ChallengePublic>(text);
  checkPrivate<MachinePrivate>(text);
  checkPrivate<NodePrivate>(text);
  auto bin = nodePublicFromBinary(tnet::ByteSpan(data, size));
  if (bin) {
    auto back = nodePublicToBinary(*bin);
    FUZZ_CHECK(back.size() == size && std::equal(back.begin(), back.end(), data));
  }
  return 0;
}
