// controlbase: the Noise layer of Tailscale's control protocol ("ts2021"; Go:
// control/controlbase). I/O-free: the caller moves bytes between these objects and sockets.
//
// Handshake: Noise_IK_25519_ChaChaPoly_BLAKE2s, prologue "Tailscale Control Protocol v<N>",
// initiator = client (static = machine key), responder = control (static = its /key publicKey),
// empty payloads.
//   initiation (101 B, sent base64 in the X-Tailscale-Handshake header):
//     version u16 BE | 0x01 | length u16 BE (= 96) | e (32) | encrypted machine key (48) | tag (16)
//   response (51 B, first bytes on the upgraded socket):  0x02 | length u16 BE (= 48) | e | tag
//   error (server, handshake only, cleartext):  0x03 | length u16 BE | text
// Transport records, both directions:  0x04 | length u16 BE | ChaCha20-Poly1305(plaintext),
// frames of at most 4096 bytes (so at most 4077 plaintext bytes each), empty AD, nonce = 4 zero
// bytes | u64 BIG-endian counter (standard Noise and WireGuard are little-endian). There is no
// rekey: counter 2^64-1 is never used and the connection is then dead. Any error in a direction
// (bad type, oversized frame, failed authentication — which is what a flipped bit, a replay or a
// reordering looks like) is permanent for that direction, as Go's Conn.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/crypto/secret.h"
#include "libs/wire/keys.h"
#include "libs/wire/noise.h"

namespace tnet::controlbase {

constexpr uint8_t MSG_TYPE_INITIATION = 1;
constexpr uint8_t MSG_TYPE_RESPONSE = 2;
constexpr uint8_t MSG_TYPE_ERROR = 3;
constexpr uint8_t MSG_TYPE_RECORD = 4;

constexpr size_t HEADER_LEN = 3;             // type | length u16 BE
constexpr size_t INITIATION_HEADER_LEN = 5;  // version u16 BE | type | length u16 BE
constexpr size_t INITIATION_LEN = 101;
constexpr size_t RESPONSE_LEN = 51;
constexpr size_t MAX_MESSAGE_SIZE = 4096;
constexpr size_t MAX_CIPHERTEXT_SIZE = MAX_MESSAGE_SIZE - HEADER_LEN;        // 4093
constexpr size_t MAX_PLAINTEXT_SIZE = MAX_CIPHERTEXT_SIZE - noise::TAG_LEN;  // 4077
constexpr size_t MAX_ERROR_TEXT = 0xffff;

constexpr std::string_view PROTOCOL_VERSION_PREFIX = "Tailscale Control Protocol v";
constexpr std::string_view HANDSHAKE_HEADER_NAME = "X-Tailscale-Handshake";

// "Tailscale Control Protocol v145" for version 145.
std::string prologue(uint16_t protocolVersion);
// 0x03 | length | text, text cut at 65535 bytes (Go's Server sendErr).
Bytes encodeErrorMessage(std::string_view text);

// The sending half of a connection.
class RecordSealer {
 public:
  explicit RecordSealer(crypto::SecretKey32 key, uint64_t counter = 0)
      : cipher_(std::move(key), noise::NonceOrder::COUNTER_BE, counter) {}

  // Appends records for plaintext to out, split into chunks of at most 4077 bytes. Empty
  // plaintext writes nothing (like Go's Conn.Write). After an error every call fails.
  Result<void> seal(ByteSpan plaintext, Bytes& out);
  // Exactly one record (plaintext of at most 4077 bytes, possibly empty).
  Result<void> sealRecord(ByteSpan plaintext, Bytes& out);
  uint64_t counter() const { return cipher_.nonce(); }

 private:
  noise::CipherState cipher_;
  bool broken_ = false;
};

// The receiving half: a stream reassembler and decryptor.
class RecordOpener {
 public:
  explicit RecordOpener(crypto::SecretKey32 key, uint64_t counter = 0)
      : cipher_(std::move(key), noise::NonceOrder::COUNTER_BE, counter) {}

  // Consumes all of `in` (any split of the stream is fine): each whole record is checked and
  // decrypted and its plaintext appended to out (empty records add nothing); a trailing partial
  // record stays buffered (at most 4095 bytes). The first error is permanent.
  Result<void> open(ByteSpan in, Bytes& out);
  uint64_t counter() const { return cipher_.nonce(); }
  size_t buffered() const { return pending_.size(); }
  bool broken() const { return broken_.has_value(); }

 private:
  Result<void> fail(Error e);
  noise::CipherState cipher_;
  Bytes pending_;
  std::optional<Error> broken_;
};

// An established connection: both halves plus what the handshake agreed on.
class Session {
 public:
  Session(uint16_t protocolVersion, key::MachinePublic peer, const crypto::Key32& handshakeHash,
          noise::TransportKeys keys)
      : version_(protocolVersion),
        peer_(peer),
        handshakeHash_(handshakeHash),
        tx_(std::move(keys.send)),
        rx_(std::move(keys.receive)) {}

  uint16_t protocolVersion() const { return version_; }
  // The other side's long-term key (the client's machine key, on the server).
  const key::MachinePublic& peer() const { return peer_; }
  // Noise's handshake hash; binds other messages to this connection.
  const crypto::Key32& handshakeHash() const { return handshakeHash_; }

  Result<void> seal(ByteSpan plaintext, Bytes& out) { return tx_.seal(plaintext, out); }
  Result<void> open(ByteSpan in, Bytes& out) { return rx_.open(in, out); }
  RecordSealer& sealer() { return tx_; }
  RecordOpener& opener() { return rx_; }

 private:
  uint16_t version_;
  key::MachinePublic peer_;
  crypto::Key32 handshakeHash_;
  RecordSealer tx_;
  RecordOpener rx_;
};

// What ClientHandshake::receive made of the bytes so far.
struct ClientProgress {
  // Set once the 51-byte response has been read and verified; consumed is then 51 and the
  // bytes after it are already transport records (feed them to session->open()).
  std::optional<Session> session;
  size_t consumed = 0;
  // While session is empty: how many bytes receive() needs at least (call again with more).
  size_t needed = 0;
};

// The client (initiator) side.
class ClientHandshake {
 public:
  static Result<ClientHandshake> start(const key::MachinePrivate& machineKey,
                                       const key::MachinePublic& controlKey, uint16_t protocolVersion);
  // Fixed ephemeral private key, for known-answer tests only.
  static Result<ClientHandshake> startForTest(const key::MachinePrivate& machineKey,
                                              const key::MachinePublic& controlKey, uint16_t protocolVersion,
                                              const crypto::SecretKey32& ephemeral);

  // The 101-byte initiation message, and its X-Tailscale-Handshake header value (std base64).
  ByteSpan initiation() const { return initiation_; }
  std::string initiationHeaderValue() const;

  // Looks at the start of the bytes received after the HTTP 101 (call again with the same
  // prefix plus more bytes while the answer says `needed`). Errors: a server error message
  // (quoted, never trusted), an unexpected type, a wrong length, a failed authentication. Once
  // it has returned a session or an error, further calls fail.
  Result<ClientProgress> receive(ByteSpan in);

 private:
  ClientHandshake(noise::IkHandshake hs, key::MachinePublic controlKey, uint16_t version)
      : hs_(std::move(hs)), controlKey_(controlKey), version_(version) {}
  static Result<ClientHandshake> startImpl(const key::MachinePrivate& machineKey,
                                           const key::MachinePublic& controlKey, uint16_t protocolVersion,
                                           const crypto::SecretKey32* ephemeral);

  noise::IkHandshake hs_;
  key::MachinePublic controlKey_;
  uint16_t version_;
  Bytes initiation_;
  bool finished_ = false;
};

// The server (responder) side, given the whole initiation (from the header). The handshake
// uses the version in the initiation header for its prologue, as Go's Server does.
struct ServerAccept {
  Bytes response;  // the 51 bytes to write first on the upgraded connection
  Session session;
};
struct ServerRefusal {
  Error error;
  // When non-empty, Go's server writes this 0x03 error message to the client before closing
  // (malformed initiations); cryptographic failures close without one.
  Bytes errorMessage;
};

class ServerHandshake {
 public:
  // Result-like: exactly one of accepted / refused.
  struct Outcome {
    std::optional<ServerAccept> accepted;
    std::optional<ServerRefusal> refused;
  };
  static Outcome accept(const key::MachinePrivate& controlKey, ByteSpan initiation);
  static Outcome acceptForTest(const key::MachinePrivate& controlKey, ByteSpan initiation,
                               const crypto::SecretKey32& ephemeral);

 private:
  static Outcome acceptImpl(const key::MachinePrivate& controlKey, ByteSpan initiation,
                            const crypto::SecretKey32* ephemeral);
};

// Go's %q-style quoting for untrusted text in an error message (printable ASCII kept, the rest
// escaped), so a server's error text cannot inject control characters into logs.
std::string quoteUntrusted(ByteSpan text);

}  // namespace tnet::controlbase
