// The LocalAPI endpoint table: the one place that says, per path, which methods apid accepts,
// what Go answers for any other method, which requests need write permission, how the body is
// checked, and Go's 403 text (which ipnd sends when it refuses a write). docs/localapi.md
// renders this table; endpoints_test.cpp pins every row against Go's handlers.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace tnet::apid {

inline constexpr std::string_view LOCALAPI_PREFIX = "/localapi/v0/";

enum class BodyCheck : uint8_t {
  NONE,         // not read by the handler; forwarded as received
  JSON_DECODE,  // Go: json.NewDecoder(body).Decode(&T); 400 with the decoder's error text
  JSON_FIXED,   // as JSON_DECODE, but Go answers every decode error with a fixed text
};

struct MethodRule {
  std::string_view method;  // "GET", …; "*" matches any method (Go's handler does not check)
  bool needsWrite;
  BodyCheck body = BodyCheck::NONE;
  std::string_view goType = {};          // Go type decoded into, for type-mismatch errors
  std::string_view fixedJsonError = {};  // with JSON_FIXED
};

struct Endpoint {
  std::string_view name;  // the part after /localapi/v0/
  std::span<const MethodRule> methods;
  uint16_t wrongMethodStatus;           // Go's status for a method not listed
  std::string_view wrongMethodMessage;  // Go's http.Error text for it
  std::string_view deniedMessage;       // Go's 403 text when write permission is missing
  // Go's handler checks write permission before the method and the body (every write-only
  // endpoint). For a caller apid cannot call privileged, a wrong method or a bad body then goes
  // to ipnd, which alone knows the operator: 403 for anyone else, the method/body error for it.
  bool writeCheckedFirst = false;
  bool streaming = false;  // watch-ipn-bus: the reply is a stream of Notify lines
};

// Every endpoint apid serves, in docs order.
std::span<const Endpoint> endpointTable();

// Exact match on the part of `path` after /localapi/v0/ (Go: handlerForPath, which also tries a
// prefix up to the first '/'; no endpoint of ours is a prefix). nullptr when unknown.
const Endpoint* findEndpoint(std::string_view path);

// The rule for `method` on `e`, or nullptr when Go would refuse the method.
const MethodRule* findMethod(const Endpoint& e, std::string_view method);

}  // namespace tnet::apid
