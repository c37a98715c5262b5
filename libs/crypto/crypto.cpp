#include "libs/crypto/crypto.h"

#include <blake2.h>
#include <sodium.h>

#include <cassert>
#include <cstdlib>
#include <cstring>

namespace tnet::crypto {

void init() {
  if (sodium_init() < 0) std::abort();  // no entropy source: nothing here can work
}

void randomBytes(MutableByteSpan out) { randombytes_buf(out.data(), out.size()); }

bool x25519(Key32& shared, const Key32& priv, const Key32& pub) {
  // libsodium returns -1 when the result is the all-zero point (low-order input).
  return crypto_scalarmult_curve25519(shared.data(), priv.data(), pub.data()) == 0;
}

void x25519Base(Key32& pub, const Key32& priv) { crypto_scalarmult_curve25519_base(pub.data(), priv.data()); }

void generatePrivateKey(Key32& priv) {
  randombytes_buf(priv.data(), priv.size());
  priv[0] &= 248;
  priv[31] = (priv[31] & 127) | 64;
}

void aeadSeal(MutableByteSpan out, const Key32& key, std::span<const uint8_t, AEAD_NONCE_LEN> nonce,
              ByteSpan plain, ByteSpan ad) {
  assert(out.size() == plain.size() + AEAD_TAG_LEN);
  unsigned long long outLen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &outLen, plain.data(), plain.size(), ad.data(),
                                            ad.size(), nullptr, nonce.data(), key.data());
}

bool aeadOpen(MutableByteSpan out, const Key32& key, std::span<const uint8_t, AEAD_NONCE_LEN> nonce,
              ByteSpan sealed, ByteSpan ad) {
  if (sealed.size() < AEAD_TAG_LEN || out.size() != sealed.size() - AEAD_TAG_LEN) return false;
  unsigned long long outLen = 0;
  return crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &outLen, nullptr, sealed.data(), sealed.size(),
                                                   ad.data(), ad.size(), nonce.data(), key.data()) == 0;
}

std::array<uint8_t, AEAD_NONCE_LEN> nonceLE(uint64_t counter) {
  std::array<uint8_t, AEAD_NONCE_LEN> n{};
  putU64LE(n.data() + 4, counter);
  return n;
}

std::array<uint8_t, AEAD_NONCE_LEN> nonceBE(uint64_t counter) {
  std::array<uint8_t, AEAD_NONCE_LEN> n{};
  putU64BE(n.data() + 4, counter);
  return n;
}

void xaeadSeal(MutableByteSpan out, const Key32& key, std::span<const uint8_t, XAEAD_NONCE_LEN> nonce,
               ByteSpan plain, ByteSpan ad) {
  assert(out.size() == plain.size() + AEAD_TAG_LEN);
  unsigned long long outLen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &outLen, plain.data(), plain.size(), ad.data(),
                                             ad.size(), nullptr, nonce.data(), key.data());
}

bool xaeadOpen(MutableByteSpan out, const Key32& key, std::span<const uint8_t, XAEAD_NONCE_LEN> nonce,
               ByteSpan sealed, ByteSpan ad) {
  if (sealed.size() < AEAD_TAG_LEN || out.size() != sealed.size() - AEAD_TAG_LEN) return false;
  unsigned long long outLen = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &outLen, nullptr, sealed.data(), sealed.size(),
                                                    ad.data(), ad.size(), nonce.data(), key.data()) == 0;
}

bool boxSeal(MutableByteSpan out, ByteSpan plain, std::span<const uint8_t, BOX_NONCE_LEN> nonce,
             const Key32& peerPub, const Key32& myPriv) {
  if (out.size() != plain.size() + BOX_OVERHEAD) return false;
  return crypto_box_easy(out.data(), plain.data(), plain.size(), nonce.data(), peerPub.data(), myPriv.data()) == 0;
}

bool boxOpen(MutableByteSpan out, ByteSpan sealed, std::span<const uint8_t, BOX_NONCE_LEN> nonce,
             const Key32& peerPub, const Key32& myPriv) {
  if (sealed.size() < BOX_OVERHEAD || out.size() != sealed.size() - BOX_OVERHEAD) return false;
  return crypto_box_open_easy(out.data(), sealed.data(), sealed.size(), nonce.data(), peerPub.data(),
                              myPriv.data()) == 0;
}

void blake2s(MutableByteSpan out, std::initializer_list<ByteSpan> parts, ByteSpan key) {
  assert(!out.empty() && out.size() <= BLAKE2S_LEN && key.size() <= BLAKE2S_LEN);
  blake2s_state st;
  if (key.empty()) {
    blake2s_init(&st, out.size());
  } else {
    blake2s_init_key(&st, out.size(), key.data(), key.size());
  }
  for (ByteSpan p : parts) blake2s_update(&st, p.data(), p.size());
  blake2s_final(&st, out.data(), out.size());
}

void hmacBlake2s(std::span<uint8_t, BLAKE2S_LEN> out, ByteSpan key, std::initializer_list<ByteSpan> parts) {
  uint8_t block[BLAKE2S_BLOCK] = {};
  if (key.size() > BLAKE2S_BLOCK) {
    blake2s(MutableByteSpan(block, BLAKE2S_LEN), {key});
  } else if (!key.empty()) {  // memcpy from an empty span's null pointer is UB
    std::memcpy(block, key.data(), key.size());
  }
  uint8_t pad[BLAKE2S_BLOCK];
  for (size_t i = 0; i < BLAKE2S_BLOCK; ++i) pad[i] = block[i] ^ 0x36;
  uint8_t inner[BLAKE2S_LEN];
  blake2s_state st;
  blake2s_init(&st, BLAKE2S_LEN);
  blake2s_update(&st, pad, sizeof pad);
  for (ByteSpan p : parts) blake2s_update(&st, p.data(), p.size());
  blake2s_final(&st, inner, sizeof inner);
  for (size_t i = 0; i < BLAKE2S_BLOCK; ++i) pad[i] = block[i] ^ 0x5c;
  blake2s(out, {ByteSpan(pad, sizeof pad), ByteSpan(inner, sizeof inner)});
  sodium_memzero(block, sizeof block);
  sodium_memzero(pad, sizeof pad);
  sodium_memzero(inner, sizeof inner);
}

void hkdf(ByteSpan chainingKey, ByteSpan input, Key32* out1, Key32* out2, Key32* out3) {
  uint8_t prk[BLAKE2S_LEN];
  hmacBlake2s(prk, chainingKey, {input});
  uint8_t t[BLAKE2S_LEN];
  const uint8_t one = 1, two = 2, three = 3;
  hmacBlake2s(t, ByteSpan(prk, sizeof prk), {ByteSpan(&one, 1)});
  if (out1) std::memcpy(out1->data(), t, BLAKE2S_LEN);
  if (out2 || out3) {
    hmacBlake2s(t, ByteSpan(prk, sizeof prk), {ByteSpan(t, sizeof t), ByteSpan(&two, 1)});
    if (out2) std::memcpy(out2->data(), t, BLAKE2S_LEN);
  }
  if (out3) {
    hmacBlake2s(t, ByteSpan(prk, sizeof prk), {ByteSpan(t, sizeof t), ByteSpan(&three, 1)});
    std::memcpy(out3->data(), t, BLAKE2S_LEN);
  }
  sodium_memzero(prk, sizeof prk);
  sodium_memzero(t, sizeof t);
}

bool equalConstantTime(ByteSpan a, ByteSpan b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool isZeroConstantTime(ByteSpan a) { return sodium_is_zero(a.data(), a.size()) == 1; }

void wipe(MutableByteSpan data) { sodium_memzero(data.data(), data.size()); }

std::string base64Encode(ByteSpan data) {
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(data.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), data.data(), data.size(), variant);
  out.resize(out.size() - 1);  // the length includes the terminating NUL
  return out;
}

std::optional<Bytes> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  Bytes out(text.size() / 4 * 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

bool hexDecodeInto(MutableByteSpan out, std::string_view text) {
  size_t len = 0;
  // With hex_end == nullptr libsodium fails unless the whole input is hex digits that fit.
  if (text.size() != out.size() * 2 ||
      sodium_hex2bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, nullptr) != 0 ||
      len != out.size()) {
    sodium_memzero(out.data(), out.size());
    return false;
  }
  return true;
}

std::string hexEncodeWithPrefix(std::string_view prefix, ByteSpan data) {
  std::string out(prefix.size() + data.size() * 2 + 1, '\0');
  std::memcpy(out.data(), prefix.data(), prefix.size());
  sodium_bin2hex(out.data() + prefix.size(), data.size() * 2 + 1, data.data(), data.size());
  out.resize(out.size() - 1);  // drop the NUL libsodium writes; shrinking never reallocates
  return out;
}

}  // namespace tnet::crypto
