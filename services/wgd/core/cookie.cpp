#include "services/wgd/core/cookie.h"

namespace tnet::wg {
namespace {

constexpr std::string_view LABEL_MAC1 = "mac1----";

ByteSpan textBytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

bool fresh(const std::optional<Duration>& setAt, Duration now) {
  return setAt.has_value() && now - *setAt <= COOKIE_REFRESH_TIME;
}

}  // namespace

crypto::Key32 macKey(std::string_view label, const crypto::Key32& publicKey) {
  crypto::Key32 key;
  crypto::blake2s(key, {textBytes(label), publicKey});
  return key;
}

CookieChecker::~CookieChecker() {
  crypto::wipe(secret_);
}

void CookieChecker::init(const crypto::Key32& ourPublicKey) {
  mac1Key_ = macKey(LABEL_MAC1, ourPublicKey);
  encryptionKey_ = macKey("cookie--", ourPublicKey);
  secretSet_.reset();
}

bool CookieChecker::checkMac1(ByteSpan msg) const {
  if (msg.size() < 2 * wire::WG_MAC_SIZE) return false;
  const size_t smac1 = wire::wgMac1Offset(msg.size());
  wire::WgMac mac1;
  crypto::blake2s(mac1, {msg.first(smac1)}, mac1Key_);
  return crypto::equalConstantTime(mac1, msg.subspan(smac1, wire::WG_MAC_SIZE));
}

wire::WgMac CookieChecker::cookieFor(ByteSpan src) const {
  wire::WgMac cookie;
  crypto::blake2s(cookie, {src}, secret_);
  return cookie;
}

bool CookieChecker::checkMac2(ByteSpan msg, ByteSpan src, Duration now) const {
  if (!fresh(secretSet_, now) || msg.size() < 2 * wire::WG_MAC_SIZE) return false;
  const wire::WgMac cookie = cookieFor(src);
  const size_t smac2 = wire::wgMac2Offset(msg.size());
  wire::WgMac mac2;
  crypto::blake2s(mac2, {msg.first(smac2)}, cookie);
  return crypto::equalConstantTime(mac2, msg.subspan(smac2));
}

wire::WgCookieReply CookieChecker::createReply(ByteSpan msg, uint32_t receiver, ByteSpan src, Duration now,
                                               RandomSource& random) {
  if (!fresh(secretSet_, now)) {
    random.fill(secret_);
    secretSet_ = now;
  }
  const wire::WgMac cookie = cookieFor(src);
  wire::WgCookieReply reply;
  reply.receiver = receiver;
  random.fill(reply.nonce);
  const size_t smac1 = wire::wgMac1Offset(msg.size());
  crypto::xaeadSeal(reply.encryptedCookie, encryptionKey_, reply.nonce, cookie,
                    msg.subspan(smac1, wire::WG_MAC_SIZE));
  return reply;
}

CookieGenerator::~CookieGenerator() {
  crypto::wipe(cookie_);
}

void CookieGenerator::init(const crypto::Key32& peerPublicKey) {
  mac1Key_ = macKey(LABEL_MAC1, peerPublicKey);
  encryptionKey_ = macKey("cookie--", peerPublicKey);
  cookieSet_.reset();
  hasLastMac1_ = false;
}

void CookieGenerator::addMacs(MutableByteSpan msg, Duration now) {
  const size_t smac1 = wire::wgMac1Offset(msg.size());
  const size_t smac2 = wire::wgMac2Offset(msg.size());
  MutableByteSpan mac1 = msg.subspan(smac1, wire::WG_MAC_SIZE);
  crypto::blake2s(mac1, {ByteSpan(msg.first(smac1))}, mac1Key_);
  std::copy(mac1.begin(), mac1.end(), lastMac1_.begin());
  hasLastMac1_ = true;
  if (!fresh(cookieSet_, now)) {
    std::fill(msg.begin() + smac2, msg.end(), 0);  // no cookie: mac2 is zero
    return;
  }
  crypto::blake2s(msg.subspan(smac2), {ByteSpan(msg.first(smac2))}, cookie_);
}

bool CookieGenerator::consumeReply(const wire::WgCookieReply& reply, Duration now) {
  if (!hasLastMac1_) return false;
  wire::WgMac cookie;
  if (!crypto::xaeadOpen(cookie, encryptionKey_, reply.nonce, reply.encryptedCookie, lastMac1_)) return false;
  cookie_ = cookie;
  cookieSet_ = now;
  return true;
}

bool CookieGenerator::hasFreshCookie(Duration now) const {
  return fresh(cookieSet_, now);
}

}  // namespace tnet::wg
