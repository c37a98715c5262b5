// MAC1/MAC2 and cookies (whitepaper §5.4.4, §5.4.7; wireguard-go device/cookie.go).
//
// The checker lives on the receiving side of handshake messages (one per Device, keyed by our
// public key): it verifies mac1, verifies mac2 when under load, and makes cookie replies. The
// generator lives per peer (keyed by the peer's public key): it writes mac1 and, while it holds a
// cookie younger than COOKIE_REFRESH_TIME, mac2; and it opens cookie replies to get that cookie.
// Time is passed in (monotonic); nothing here reads a clock.
#pragma once

#include <optional>

#include "libs/crypto/crypto.h"
#include "libs/wire/wireguard_messages.h"
#include "services/wgd/core/constants.h"
#include "services/wgd/core/random.h"

namespace tnet::wg {

// HASH(label ‖ publicKey), the mac1 key and the cookie encryption key.
crypto::Key32 macKey(std::string_view label, const crypto::Key32& publicKey);

class CookieChecker {
 public:
  CookieChecker() = default;
  ~CookieChecker();
  CookieChecker(const CookieChecker&) = delete;
  CookieChecker& operator=(const CookieChecker&) = delete;

  void init(const crypto::Key32& ourPublicKey);
  bool checkMac1(ByteSpan msg) const;
  // False when no cookie secret is current (none yet, or older than COOKIE_REFRESH_TIME).
  bool checkMac2(ByteSpan msg, ByteSpan src, Duration now) const;
  // A cookie reply to `msg` (whose sender index is `receiver`) for source `src`; rotates the
  // cookie secret first when it is older than COOKIE_REFRESH_TIME.
  wire::WgCookieReply createReply(ByteSpan msg, uint32_t receiver, ByteSpan src, Duration now,
                                  RandomSource& random);

 private:
  wire::WgMac cookieFor(ByteSpan src) const;
  crypto::Key32 mac1Key_{};
  crypto::Key32 encryptionKey_{};
  crypto::Key32 secret_{};
  std::optional<Duration> secretSet_;
};

class CookieGenerator {
 public:
  CookieGenerator() = default;
  ~CookieGenerator();
  CookieGenerator(const CookieGenerator&) = delete;
  CookieGenerator& operator=(const CookieGenerator&) = delete;

  void init(const crypto::Key32& peerPublicKey);
  // Fills mac1 (and mac2 when a fresh cookie is held) at the end of the serialised message.
  void addMacs(MutableByteSpan msg, Duration now);
  // Opens a cookie reply with the mac1 we last sent as associated data; false when it does not
  // authenticate (or we never sent anything).
  bool consumeReply(const wire::WgCookieReply& reply, Duration now);
  bool hasFreshCookie(Duration now) const;

 private:
  crypto::Key32 mac1Key_{};
  crypto::Key32 encryptionKey_{};
  wire::WgMac cookie_{};
  std::optional<Duration> cookieSet_;
  wire::WgMac lastMac1_{};
  bool hasLastMac1_ = false;
};

}  // namespace tnet::wg
