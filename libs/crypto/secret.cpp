#include "libs/crypto/secret.h"

#include <sodium.h>

#include <cstdlib>
#include <new>

namespace tnet::crypto {

namespace {

Key32* allocateKey() {
  init();  // sodium_malloc needs sodium_init's page size; init is idempotent
  void* p = sodium_malloc(sizeof(Key32));
  if (p == nullptr) throw std::bad_alloc();
  return static_cast<Key32*>(p);
}

const Key32 ZERO_KEY{};

}  // namespace

PrivateKey::~PrivateKey() {
  if (key_ != nullptr) sodium_free(key_);  // sodium_free wipes before unmapping
}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    if (key_ != nullptr) sodium_free(key_);
    key_ = other.key_;
    other.key_ = nullptr;
  }
  return *this;
}

PrivateKey PrivateKey::generate() {
  PrivateKey k;
  k.key_ = allocateKey();
  generatePrivateKey(*k.key_);
  return k;
}

PrivateKey PrivateKey::fromSpan(ByteSpan raw) {
  assert(raw.size() == KEY_LEN);
  PrivateKey k;
  k.key_ = allocateKey();
  std::memcpy(k.key_->data(), raw.data(), KEY_LEN);
  return k;
}

bool PrivateKey::isZero() const {
  return isZeroConstantTime(raw());
}

bool PrivateKey::equals(const PrivateKey& other) const {
  return equalConstantTime(raw(), other.raw());
}

Key32 PrivateKey::publicKey() const {
  assert(!isZero() && "public key of a zero private key");
  Key32 pub;
  x25519Base(pub, raw());
  return pub;
}

bool PrivateKey::sharedSecret(SecretKey32& out, const Key32& peerPublic) const {
  return x25519(out.mutableArray(), raw(), peerPublic);
}

const Key32& PrivateKey::raw() const {
  return key_ != nullptr ? *key_ : ZERO_KEY;
}

SecretString::SecretString(SecretString&& other) noexcept : text_(other.text_) {
  other.clear();
}

SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    clear();
    text_ = other.text_;
    other.clear();
  }
  return *this;
}

bool SecretString::equals(std::string_view other) const {
  return equalConstantTime(ByteSpan(reinterpret_cast<const uint8_t*>(text_.data()), text_.size()),
                           ByteSpan(reinterpret_cast<const uint8_t*>(other.data()), other.size()));
}

void SecretString::clear() {
  // Wipe the whole buffer (short strings live inside the object), then empty it.
  text_.resize(text_.capacity());
  sodium_memzero(text_.data(), text_.size());
  text_.clear();
}

}  // namespace tnet::crypto
