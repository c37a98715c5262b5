#include "libs/wire/controlbase.h"

#include <algorithm>
#include <cstring>

namespace tnet::controlbase {

namespace {

noise::IkOptions ikOptions(const std::string& prologueText) {
  noise::IkOptions o;
  o.protocolName = noise::IK_PROTOCOL_NAME;
  o.prologue = ByteSpan(reinterpret_cast<const uint8_t*>(prologueText.data()), prologueText.size());
  return o;
}

}  // namespace

std::string prologue(uint16_t protocolVersion) {
  return std::string(PROTOCOL_VERSION_PREFIX) + std::to_string(protocolVersion);
}

Bytes encodeErrorMessage(std::string_view text) {
  text = text.substr(0, MAX_ERROR_TEXT);
  Bytes out(HEADER_LEN + text.size());
  out[0] = MSG_TYPE_ERROR;
  putU16BE(out.data() + 1, uint16_t(text.size()));
  std::memcpy(out.data() + HEADER_LEN, text.data(), text.size());
  return out;
}

std::string quoteUntrusted(ByteSpan text) {
  static constexpr char DIGITS[] = "0123456789abcdef";
  std::string out = "\"";
  for (uint8_t c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      out += "\\x";
      out += DIGITS[c >> 4];
      out += DIGITS[c & 0xf];
    }
  }
  out += '"';
  return out;
}

// ---- transport -----------------------------------------------------------------------------

Result<void> RecordSealer::sealRecord(ByteSpan plaintext, Bytes& out) {
  if (broken_) return Error::failed("controlbase: connection unusable after an earlier write error");
  if (plaintext.size() > MAX_PLAINTEXT_SIZE) return Error::invalid("controlbase: record plaintext too large");
  const size_t at = out.size();
  out.resize(at + HEADER_LEN);
  out[at] = MSG_TYPE_RECORD;
  putU16BE(out.data() + at + 1, uint16_t(plaintext.size() + noise::TAG_LEN));
  auto r = cipher_.encryptWithAd({}, plaintext, out);
  if (!r) {
    out.resize(at);
    broken_ = true;  // Go: every later write fails too
    return r;
  }
  return {};
}

Result<void> RecordSealer::seal(ByteSpan plaintext, Bytes& out) {
  while (!plaintext.empty()) {
    const size_t n = std::min(plaintext.size(), MAX_PLAINTEXT_SIZE);
    TNET_TRY_VOID(sealRecord(plaintext.first(n), out));
    plaintext = plaintext.subspan(n);
  }
  return {};
}

Result<void> RecordOpener::fail(Error e) {
  crypto::wipe(pending_);
  pending_.clear();
  broken_ = e;
  return e;
}

Result<void> RecordOpener::open(ByteSpan in, Bytes& out) {
  if (broken_)
    return Error::failed("controlbase: connection unusable after an earlier read error: " + broken_->message);
  // Records are handled in place from `in` when whole; only a partial tail is copied into
  // pending_. When pending_ holds a partial record, it is completed from `in` first.
  while (true) {
    ByteSpan frame;
    Bytes assembled;
    const bool fromPending = !pending_.empty();
    ByteSpan head = fromPending ? ByteSpan(pending_) : in;
    if (fromPending && pending_.size() < HEADER_LEN) {
      const size_t take = std::min(HEADER_LEN - pending_.size(), in.size());
      pending_.insert(pending_.end(), in.begin(), in.begin() + take);
      in = in.subspan(take);
      head = pending_;
    }
    if (head.size() < HEADER_LEN) {
      if (!fromPending) pending_.assign(in.begin(), in.end());
      return {};
    }
    if (head[0] != MSG_TYPE_RECORD) {
      return fail(Error::invalid("controlbase: received message with unexpected type " +
                                 std::to_string(head[0]) + ", want 4"));
    }
    const size_t total = HEADER_LEN + getU16BE(head.data() + 1);
    if (total > MAX_MESSAGE_SIZE) {
      return fail(Error::invalid("controlbase: requested read of " + std::to_string(total) +
                                 " bytes exceeds max allowed Noise frame size"));
    }
    if (fromPending) {
      const size_t take = std::min(total - pending_.size(), in.size());
      pending_.insert(pending_.end(), in.begin(), in.begin() + take);
      in = in.subspan(take);
      if (pending_.size() < total) return {};
      assembled.swap(pending_);
      frame = assembled;
    } else {
      if (in.size() < total) {
        pending_.assign(in.begin(), in.end());
        return {};
      }
      frame = in.first(total);
      in = in.subspan(total);
    }
    auto r = cipher_.decryptWithAd({}, frame.subspan(HEADER_LEN), out);
    if (!r) {
      return fail(Error::invalid("controlbase: record " + std::to_string(cipher_.nonce()) + ": " +
                                 r.error().message));
    }
    if (in.empty() && pending_.empty()) return {};
  }
}

// ---- client --------------------------------------------------------------------------------

Result<ClientHandshake> ClientHandshake::start(const key::MachinePrivate& machineKey,
                                               const key::MachinePublic& controlKey,
                                               uint16_t protocolVersion) {
  return startImpl(machineKey, controlKey, protocolVersion, nullptr);
}

Result<ClientHandshake> ClientHandshake::startForTest(const key::MachinePrivate& machineKey,
                                                      const key::MachinePublic& controlKey,
                                                      uint16_t protocolVersion,
                                                      const crypto::SecretKey32& ephemeral) {
  return startImpl(machineKey, controlKey, protocolVersion, &ephemeral);
}

Result<ClientHandshake> ClientHandshake::startImpl(const key::MachinePrivate& machineKey,
                                                   const key::MachinePublic& controlKey,
                                                   uint16_t protocolVersion,
                                                   const crypto::SecretKey32* ephemeral) {
  if (controlKey.isZero()) return Error::invalid("controlbase: zero control key");
  const std::string pro = prologue(protocolVersion);
  TNET_TRY(auto hs, noise::IkHandshake::initiator(ikOptions(pro), machineKey.secret(), controlKey.raw()));
  if (ephemeral != nullptr) hs.setEphemeralForTest(*ephemeral);
  TNET_TRY(Bytes body, hs.writeMessage1({}));
  ClientHandshake c(std::move(hs), controlKey, protocolVersion);
  c.initiation_.resize(INITIATION_HEADER_LEN);
  putU16BE(c.initiation_.data(), protocolVersion);
  c.initiation_[2] = MSG_TYPE_INITIATION;
  putU16BE(c.initiation_.data() + 3, uint16_t(body.size()));
  c.initiation_.insert(c.initiation_.end(), body.begin(), body.end());
  assert(c.initiation_.size() == INITIATION_LEN);
  return c;
}

std::string ClientHandshake::initiationHeaderValue() const {
  return crypto::base64Encode(initiation_);
}

Result<ClientProgress> ClientHandshake::receive(ByteSpan in) {
  if (finished_) return Error::failed("controlbase: handshake already finished");
  ClientProgress progress;
  if (in.size() < HEADER_LEN) {
    progress.needed = HEADER_LEN;
    return progress;
  }
  const uint8_t type = in[0];
  const size_t length = getU16BE(in.data() + 1);
  if (type != MSG_TYPE_RESPONSE) {
    if (type != MSG_TYPE_ERROR) {
      finished_ = true;
      return Error::invalid("controlbase: unexpected response message type " + std::to_string(type));
    }
    if (in.size() < HEADER_LEN + length) {
      progress.needed = HEADER_LEN + length;
      return progress;
    }
    finished_ = true;
    return Error::denied("controlbase: server error: " + quoteUntrusted(in.subspan(HEADER_LEN, length)));
  }
  if (length != RESPONSE_LEN - HEADER_LEN) {
    finished_ = true;
    return Error::invalid("controlbase: wrong length " + std::to_string(length) +
                          " received for handshake response");
  }
  if (in.size() < RESPONSE_LEN) {
    progress.needed = RESPONSE_LEN;
    return progress;
  }
  finished_ = true;
  auto payload = hs_.readMessage2(in.subspan(HEADER_LEN, RESPONSE_LEN - HEADER_LEN));
  if (!payload) return Error::invalid("controlbase: handshake response: " + payload.error().message);
  TNET_TRY(auto keys, hs_.split());
  progress.session.emplace(version_, controlKey_, hs_.handshakeHash(), std::move(keys));
  progress.consumed = RESPONSE_LEN;
  return progress;
}

// ---- server --------------------------------------------------------------------------------

ServerHandshake::Outcome ServerHandshake::accept(const key::MachinePrivate& controlKey, ByteSpan initiation) {
  return acceptImpl(controlKey, initiation, nullptr);
}

ServerHandshake::Outcome ServerHandshake::acceptForTest(const key::MachinePrivate& controlKey,
                                                        ByteSpan initiation,
                                                        const crypto::SecretKey32& ephemeral) {
  return acceptImpl(controlKey, initiation, &ephemeral);
}

ServerHandshake::Outcome ServerHandshake::acceptImpl(const key::MachinePrivate& controlKey,
                                                     ByteSpan initiation,
                                                     const crypto::SecretKey32* ephemeral) {
  Outcome outcome;
  // The three checks Go answers with an error message, in Go's order; the texts are Go's.
  auto refuse = [&](std::string_view text) {
    outcome.refused =
        ServerRefusal{Error::invalid("controlbase: refused client handshake: " + std::string(text)),
                      encodeErrorMessage(text)};
    return std::move(outcome);
  };
  auto fail = [&](Error e) {
    outcome.refused = ServerRefusal{std::move(e), {}};
    return std::move(outcome);
  };
  if (initiation.size() != INITIATION_LEN) return refuse("wrong handshake initiation size");
  const uint16_t version = getU16BE(initiation.data());
  if (initiation[2] != MSG_TYPE_INITIATION) return refuse("unexpected handshake message type");
  if (getU16BE(initiation.data() + 3) != INITIATION_LEN - INITIATION_HEADER_LEN) {
    return refuse("wrong handshake initiation length");
  }
  if (controlKey.isZero()) return fail(Error::invalid("controlbase: zero control key"));

  const std::string pro = prologue(version);
  auto hs = noise::IkHandshake::responder(ikOptions(pro), controlKey.secret());
  if (!hs) return fail(hs.error());
  auto payload = hs->readMessage1(initiation.subspan(INITIATION_HEADER_LEN));
  if (!payload) return fail(Error::invalid("controlbase: handshake initiation: " + payload.error().message));
  if (!payload->empty()) return fail(Error::invalid("controlbase: handshake initiation carries a payload"));
  if (ephemeral != nullptr) hs->setEphemeralForTest(*ephemeral);
  auto body = hs->writeMessage2({});
  if (!body) return fail(Error::invalid("controlbase: handshake response: " + body.error().message));
  auto keys = hs->split();
  if (!keys) return fail(keys.error());

  Bytes response(HEADER_LEN);
  response[0] = MSG_TYPE_RESPONSE;
  putU16BE(response.data() + 1, uint16_t(body->size()));
  response.insert(response.end(), body->begin(), body->end());
  assert(response.size() == RESPONSE_LEN);
  auto peer = key::MachinePublic(hs->remoteStatic());
  outcome.accepted.emplace(
      ServerAccept{std::move(response), Session(version, peer, hs->handshakeHash(), std::move(*keys))});
  return outcome;
}

}  // namespace tnet::controlbase
