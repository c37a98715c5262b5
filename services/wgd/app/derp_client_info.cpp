#include "services/wgd/app/derp_client_info.h"

#include <algorithm>
#include <cstring>

namespace tnet::wgd {

Result<Bytes> sealDerpClientInfoWithNonce(const crypto::PrivateKey& nodeKey, ByteSpan serverPublic,
                                          std::span<const uint8_t, crypto::BOX_NONCE_LEN> nonce) {
  if (serverPublic.size() != crypto::KEY_LEN)
    return Error::invalid("derpClientInfo: serverPublic must be 32 bytes");
  if (crypto::isZeroConstantTime(serverPublic)) return Error::invalid("derpClientInfo: zero server key");
  if (nodeKey.isZero()) return Error::failed("derpClientInfo: no node key yet");
  crypto::Key32 server;
  std::copy(serverPublic.begin(), serverPublic.end(), server.begin());
  crypto::SecretKey32 shared;
  if (!nodeKey.sharedSecret(shared, server)) return Error::invalid("derpClientInfo: low-order server key");
  const ByteSpan json(reinterpret_cast<const uint8_t*>(DERP_CLIENT_INFO_JSON.data()),
                      DERP_CLIENT_INFO_JSON.size());
  Bytes out(crypto::KEY_LEN + crypto::BOX_NONCE_LEN + crypto::BOX_OVERHEAD + json.size());
  const crypto::Key32 pub = nodeKey.publicKey();
  std::memcpy(out.data(), pub.data(), crypto::KEY_LEN);
  std::memcpy(out.data() + crypto::KEY_LEN, nonce.data(), crypto::BOX_NONCE_LEN);
  MutableByteSpan box(out.data() + crypto::KEY_LEN + crypto::BOX_NONCE_LEN,
                      crypto::BOX_OVERHEAD + json.size());
  if (!crypto::boxSeal(box, json, nonce, server, nodeKey.raw())) {
    return Error::invalid("derpClientInfo: low-order server key");
  }
  return out;
}

Result<Bytes> sealDerpClientInfo(const crypto::PrivateKey& nodeKey, ByteSpan serverPublic) {
  std::array<uint8_t, crypto::BOX_NONCE_LEN> nonce;
  crypto::randomBytes(nonce);
  return sealDerpClientInfoWithNonce(nodeKey, serverPublic, nonce);
}

}  // namespace tnet::wgd
