#include "libs/wire/derp_info.h"

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "libs/ipn/go_json.h"

namespace tnet::derp {

namespace {

// One member of the top-level JSON object, as the SAX parser delivered it. Nested objects and
// arrays are only noted (NESTED), never built: a DOM of attacker-chosen depth is what we avoid.
struct Field {
  enum class Kind { NUL, BOOL, INT, UINT, FLOAT, STRING, NESTED };
  std::string key;
  Kind kind = Kind::NUL;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  std::string s;
};

// Go's encoding/json refuses nesting deeper than this (scanner maxNestingDepth).
constexpr size_t GO_MAX_NESTING_DEPTH = 10000;

// nlohmann SAX handler collecting the top-level members in document order (Go applies them in
// that order, so a later duplicate wins).
class TopLevelFields {
 public:
  using Json = nlohmann::json;

  bool null() { return scalar(Field{{}, Field::Kind::NUL}); }
  bool boolean(bool v) {
    Field f{{}, Field::Kind::BOOL};
    f.b = v;
    return scalar(std::move(f));
  }
  bool number_integer(Json::number_integer_t v) {
    Field f{{}, Field::Kind::INT};
    f.i = v;
    return scalar(std::move(f));
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    Field f{{}, Field::Kind::UINT};
    f.u = v;
    return scalar(std::move(f));
  }
  bool number_float(Json::number_float_t, const Json::string_t&) {
    return scalar(Field{{}, Field::Kind::FLOAT});
  }
  bool string(Json::string_t& v) {
    Field f{{}, Field::Kind::STRING};
    if (depth_ == 1) f.s = std::move(v);
    return scalar(std::move(f));
  }
  bool binary(Json::binary_t&) { return scalar(Field{{}, Field::Kind::NESTED}); }
  bool start_object(size_t) { return open(true); }
  bool start_array(size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(Json::string_t& k) {
    if (depth_ == 1) pendingKey_ = std::move(k);
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) {
    if (!error_) error_ = "is not valid JSON";
    return false;
  }

  const char* error() const { return error_; }
  bool isNullDocument() const { return nullDocument_; }
  std::vector<Field>& fields() { return fields_; }

 private:
  bool scalar(Field f) {
    if (depth_ == 0) {  // the whole document is a scalar: only null is allowed (a no-op in Go)
      if (f.kind == Field::Kind::NUL) {
        nullDocument_ = true;
        return true;
      }
      error_ = "JSON is not an object";
      return false;
    }
    if (depth_ == 1) {
      f.key = std::move(pendingKey_);
      fields_.push_back(std::move(f));
    }
    return true;
  }
  bool open(bool object) {
    if (depth_ == 0 && !object) {
      error_ = "JSON is not an object";
      return false;
    }
    if (++depth_ > GO_MAX_NESTING_DEPTH) {
      error_ = "JSON exceeds the maximum nesting depth of 10000";
      return false;
    }
    if (depth_ == 2) {
      Field f{std::move(pendingKey_), Field::Kind::NESTED};
      fields_.push_back(std::move(f));
    }
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  size_t depth_ = 0;
  std::string pendingKey_;
  std::vector<Field> fields_;
  bool nullDocument_ = false;
  const char* error_ = nullptr;
};

Result<TopLevelFields> parseObject(std::string_view text, const char* what) {
  TopLevelFields fields;
  const bool ok =
      nlohmann::json::sax_parse(text.begin(), text.end(), &fields, nlohmann::json::input_format_t::json,
                                /*strict=*/true);
  if (!ok || fields.error()) {
    return Error::invalid(std::string("derp: ") + what + " " +
                          (fields.error() ? fields.error() : "is not valid JSON"));
  }
  return fields;
}

// Go's encoding/json into an `int`: a JSON integer literal that fits int64; null leaves it.
Result<void> readInt(const Field& v, std::string_view name, int64_t& out) {
  switch (v.kind) {
    case Field::Kind::NUL:
      return {};
    case Field::Kind::INT:
      out = v.i;
      return {};
    case Field::Kind::UINT:
      if (v.u > uint64_t(std::numeric_limits<int64_t>::max())) {
        return Error::invalid("derp: JSON " + std::string(name) + " overflows int");
      }
      out = int64_t(v.u);
      return {};
    default:
      return Error::invalid("derp: JSON " + std::string(name) + " is not an integer");
  }
}

Result<void> readBool(const Field& v, std::string_view name, bool& out) {
  if (v.kind == Field::Kind::NUL) return {};
  if (v.kind != Field::Kind::BOOL)
    return Error::invalid("derp: JSON " + std::string(name) + " is not a bool");
  out = v.b;
  return {};
}

Result<void> readString(const Field& v, std::string_view name, std::string& out) {
  if (v.kind == Field::Kind::NUL) return {};
  if (v.kind != Field::Kind::STRING)
    return Error::invalid("derp: JSON " + std::string(name) + " is not a string");
  out = v.s;
  return {};
}

// key.DERPMesh.UnmarshalJSON: exactly 64 hex digits (either case); anything else, null included,
// is "invalid mesh key".
Result<void> readMeshKey(const Field& v, crypto::SecretKey32& out) {
  if (v.kind == Field::Kind::STRING && v.s.size() == 64) {
    if (auto raw = hexDecode(v.s)) {
      std::memcpy(out.mutableBytes().data(), raw->data(), out.size());
      crypto::wipe(*raw);
      return {};
    }
  }
  return Error::invalid("derp: invalid mesh key in ClientInfo");
}

ByteSpan asBytes(const std::string& s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

std::string marshalClientInfo(const ClientInfo& info) {
  std::string out = "{";
  auto sep = [&] {
    if (out.size() > 1) out.push_back(',');
  };
  if (!info.meshKey.isZero()) {
    out += "\"meshKey\":\"" + hexEncode(info.meshKey.bytes()) + "\"";
  }
  if (info.version != 0) {
    sep();
    out += "\"version\":" + std::to_string(info.version);
  }
  sep();
  out += std::string("\"CanAckPings\":") + (info.canAckPings ? "true" : "false");
  if (info.isProber) out += ",\"IsProber\":true";
  if (!info.appName.empty()) {
    out += ",\"AppName\":";
    ipn::appendGoJsonString(out, info.appName);
  }
  out.push_back('}');
  return out;
}

Result<ClientInfo> unmarshalClientInfo(std::string_view text) {
  TNET_TRY(TopLevelFields doc, parseObject(text, "ClientInfo"));
  // The mesh key's hex text is a secret too: wipe every collected string however we leave.
  struct WipeStrings {
    std::vector<Field>& fields;
    ~WipeStrings() {
      for (Field& f : fields)
        crypto::wipe(MutableByteSpan(reinterpret_cast<uint8_t*>(f.s.data()), f.s.size()));
    }
  } wipeStrings{doc.fields()};
  ClientInfo info;
  for (const Field& v : doc.fields()) {
    const std::string& k = v.key;
    if (ipn::keyEqualFold(k, "meshKey")) {
      TNET_TRY_VOID(readMeshKey(v, info.meshKey));
    } else if (ipn::keyEqualFold(k, "version")) {
      TNET_TRY_VOID(readInt(v, "version", info.version));
    } else if (ipn::keyEqualFold(k, "CanAckPings")) {
      TNET_TRY_VOID(readBool(v, "CanAckPings", info.canAckPings));
    } else if (ipn::keyEqualFold(k, "IsProber")) {
      TNET_TRY_VOID(readBool(v, "IsProber", info.isProber));
    } else if (ipn::keyEqualFold(k, "AppName")) {
      TNET_TRY_VOID(readString(v, "AppName", info.appName));
    }
  }
  return info;
}

std::string marshalServerInfo(const ServerInfo& info) {
  std::string out = "{";
  auto field = [&](const char* name, int64_t v) {
    if (v == 0) return;
    if (out.size() > 1) out.push_back(',');
    out += std::string("\"") + name + "\":" + std::to_string(v);
  };
  field("version", info.version);
  field("TokenBucketBytesPerSecond", info.tokenBucketBytesPerSecond);
  field("TokenBucketBytesBurst", info.tokenBucketBytesBurst);
  out.push_back('}');
  return out;
}

Result<ServerInfo> unmarshalServerInfo(std::string_view text) {
  TNET_TRY(TopLevelFields doc, parseObject(text, "ServerInfo"));
  ServerInfo info;
  for (const Field& v : doc.fields()) {
    const std::string& k = v.key;
    if (ipn::keyEqualFold(k, "version")) {
      TNET_TRY_VOID(readInt(v, "version", info.version));
    } else if (ipn::keyEqualFold(k, "TokenBucketBytesPerSecond")) {
      TNET_TRY_VOID(readInt(v, "TokenBucketBytesPerSecond", info.tokenBucketBytesPerSecond));
    } else if (ipn::keyEqualFold(k, "TokenBucketBytesBurst")) {
      TNET_TRY_VOID(readInt(v, "TokenBucketBytesBurst", info.tokenBucketBytesBurst));
    }
  }
  return info;
}

Result<void> appendClientInfo(Bytes& out, const ClientInfo& info, const NodePrivate& clientPriv,
                              const NodePublic& serverPub, std::span<const uint8_t, NONCE_LEN> nonce) {
  std::string json = marshalClientInfo(info);
  const size_t len = KEY_LEN + NONCE_LEN + crypto::BOX_OVERHEAD + json.size();
  const NodePublic clientPub = clientPriv.publicKey();
  const size_t at = out.size();
  appendFrameHeader(out, FrameType::CLIENT_INFO, uint32_t(len));
  out.insert(out.end(), clientPub.raw().begin(), clientPub.raw().end());
  out.insert(out.end(), nonce.begin(), nonce.end());
  const size_t boxAt = out.size();
  out.resize(boxAt + crypto::BOX_OVERHEAD + json.size());
  const bool sealed = crypto::boxSeal(MutableByteSpan(out).subspan(boxAt), asBytes(json), nonce,
                                      serverPub.raw(), clientPriv.secret().raw());
  crypto::wipe(
      MutableByteSpan(reinterpret_cast<uint8_t*>(json.data()), json.size()));  // may hold the mesh key
  if (!sealed) {
    out.resize(at);
    return Error::invalid("derp: cannot seal ClientInfo to a low-order server key");
  }
  return {};
}

Result<void> appendClientInfo(Bytes& out, const ClientInfo& info, const NodePrivate& clientPriv,
                              const NodePublic& serverPub) {
  std::array<uint8_t, NONCE_LEN> nonce;
  crypto::randomBytes(nonce);
  return appendClientInfo(out, info, clientPriv, serverPub, nonce);
}

Result<OpenedClientInfo> openClientInfo(const Frame& frame, const NodePrivate& serverPriv) {
  const ByteSpan b = frame.payload;
  if (frame.type != FrameType::CLIENT_INFO) {
    return Error::invalid(std::string("derp: got ") + frameTypeName(frame.type) + " frame, want ClientInfo");
  }
  if (b.size() < KEY_LEN + NONCE_LEN) return Error::invalid("derp: short client info");
  if (b.size() > SERVER_MAX_CLIENT_INFO_LEN) return Error::invalid("derp: long client info");
  if (b.size() < KEY_LEN + NONCE_LEN + crypto::BOX_OVERHEAD) {
    return Error::denied("derp: client info box too short to open");
  }
  OpenedClientInfo r;
  crypto::Key32 claimed;
  std::memcpy(claimed.data(), b.data(), KEY_LEN);
  r.clientKey = NodePublic(claimed);
  std::span<const uint8_t, NONCE_LEN> nonce(b.data() + KEY_LEN, NONCE_LEN);
  const ByteSpan box = b.subspan(KEY_LEN + NONCE_LEN);
  std::string json(box.size() - crypto::BOX_OVERHEAD, '\0');
  const MutableByteSpan plain(reinterpret_cast<uint8_t*>(json.data()), json.size());
  if (!crypto::boxOpen(plain, box, nonce, claimed, serverPriv.secret().raw())) {
    return Error::denied("derp: client info box does not open with the claimed client key");
  }
  auto info = unmarshalClientInfo(json);
  crypto::wipe(plain);  // may hold the mesh key
  if (!info) return Unexpected(info.error());
  r.info = std::move(*info);
  return r;
}

Result<void> appendServerInfo(Bytes& out, const ServerInfo& info, const NodePrivate& serverPriv,
                              const NodePublic& clientPub, std::span<const uint8_t, NONCE_LEN> nonce) {
  const std::string json = marshalServerInfo(info);
  const size_t at = out.size();
  appendFrameHeader(out, FrameType::SERVER_INFO, uint32_t(NONCE_LEN + crypto::BOX_OVERHEAD + json.size()));
  out.insert(out.end(), nonce.begin(), nonce.end());
  const size_t boxAt = out.size();
  out.resize(boxAt + crypto::BOX_OVERHEAD + json.size());
  if (!crypto::boxSeal(MutableByteSpan(out).subspan(boxAt), asBytes(json), nonce, clientPub.raw(),
                       serverPriv.secret().raw())) {
    out.resize(at);
    return Error::invalid("derp: cannot seal ServerInfo to a low-order client key");
  }
  return {};
}

Result<void> appendServerInfo(Bytes& out, const ServerInfo& info, const NodePrivate& serverPriv,
                              const NodePublic& clientPub) {
  std::array<uint8_t, NONCE_LEN> nonce;
  crypto::randomBytes(nonce);
  return appendServerInfo(out, info, serverPriv, clientPub, nonce);
}

Result<ServerInfo> openServerInfo(ByteSpan b, const NodePrivate& clientPriv, const NodePublic& serverPub) {
  if (b.size() < NONCE_LEN) return Error::invalid("derp: short serverInfo frame");
  if (b.size() > NONCE_LEN + MAX_INFO_LEN) return Error::invalid("derp: long serverInfo frame");
  if (b.size() < NONCE_LEN + crypto::BOX_OVERHEAD)
    return Error::denied("derp: serverInfo box too short to open");
  std::span<const uint8_t, NONCE_LEN> nonce(b.data(), NONCE_LEN);
  const ByteSpan box = b.subspan(NONCE_LEN);
  std::string json(box.size() - crypto::BOX_OVERHEAD, '\0');
  if (!crypto::boxOpen(MutableByteSpan(reinterpret_cast<uint8_t*>(json.data()), json.size()), box, nonce,
                       serverPub.raw(), clientPriv.secret().raw())) {
    return Error::denied("derp: serverInfo box does not open with the server key");
  }
  return unmarshalServerInfo(json);
}

}  // namespace tnet::derp
