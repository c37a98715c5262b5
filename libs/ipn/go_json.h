// Helpers that make nlohmann::json read and write JSON the way Go's encoding/json does, so the
// bytes we serve match what Go tailscaled serves: field order is declaration order
// (ordered_json), "<", ">" and "&" are escaped as \u003c etc. (Go's default HTML escaping), and
// object keys are matched case-insensitively when decoding (exact match preferred).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::ipn {

using Json = nlohmann::json;                 // decoded input
using OrderedJson = nlohmann::ordered_json;  // output, in Go's field order

// Go's json.Marshal bytes (compact) or json.MarshalIndent(v, "", "\t") when `indent`.
// Strings (and keys) are quoted by appendGoJsonString. No trailing newline.
// Float64 values with no fraction are written as integers, as Go does (2.0 is "2").
std::string goMarshal(const OrderedJson& value, bool indent = false);
// Go's json.MarshalIndent(v, prefix, indent) (json.Encoder.SetIndent writes the same layout).
std::string goMarshalIndent(const OrderedJson& value, std::string_view prefix, std::string_view indent);

// Appends `s` as a JSON string exactly as Go's encoding/json writes it (HTML escaping on):
// \" \\ \b \f \n \r \t short escapes, other controls and < > & as \u00xx (lower-case hex),
// U+2028/U+2029 as \u2028/\u2029, and each byte that does not start a valid UTF-8 sequence as
// the escape \ufffd (Go's utf8.DecodeRuneInString consumes one byte of an invalid sequence).
// The suite's one JSON string quoter: every hand-built Go JSON uses it.
void appendGoJsonString(std::string& out, std::string_view s);
std::string goJsonString(std::string_view s);

// Parses one JSON document. Trailing bytes after the first value are ignored when
// `allowTrailing` (json.NewDecoder(r).Decode semantics), rejected otherwise.
// Never throws; the error names the byte offset.
Result<Json> parseJson(std::string_view text, bool allowTrailing = false, bool allowComments = false);

// Go's case-insensitive ASCII comparison of JSON keys to field names (strings.EqualFold for ASCII).
bool keyEqualFold(std::string_view a, std::string_view b);

// Go's type names in error messages ("bool", "string", "number", "object", "array").
std::string_view goJsonKind(const Json& v);

// "json: cannot unmarshal <kind> into Go struct field <typeName>.<field> of type <goType>"
Error typeError(const Json& v, std::string_view typeName, std::string_view field, std::string_view goType);

// Typed reads with Go's rules: null leaves the target untouched (Go's behaviour for non-pointer
// fields) and the wrong JSON kind is an error.
Result<void> readBool(const Json& v, bool& out, std::string_view typeName, std::string_view field);
Result<void> readString(const Json& v, std::string& out, std::string_view typeName, std::string_view field);
Result<void> readInt64(const Json& v, int64_t& out, int64_t min, int64_t max, std::string_view typeName,
                       std::string_view field, std::string_view goType);

// Go's time.Time zero value in JSON.
inline constexpr std::string_view GO_ZERO_TIME = "0001-01-01T00:00:00Z";

}  // namespace tnet::ipn
