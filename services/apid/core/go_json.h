// A syntax-only reader of the first JSON value in a byte string, with the error texts of Go's
// encoding/json Decoder. apid checks request bodies with it before forwarding them, so a client
// sees the message Go's tailscaled would print and ipnd never receives malformed JSON.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::apid {

enum class JsonKind { OBJECT, ARRAY, STRING, NUMBER, BOOL, NUL };

struct JsonValueSpan {
  JsonKind kind;
  size_t begin = 0;  // offset of the value's first byte
  size_t end = 0;    // one past its last byte
};

// Scans the first JSON value of `text` as Go's json.Decoder.Decode does: leading whitespace is
// skipped, bytes after the value are not looked at. Errors carry Go's message: "EOF" (nothing but
// whitespace), "unexpected EOF" (truncated), or "invalid character 'x' looking for beginning of
// value" and its siblings. Nesting deeper than Go's limit is an error as in Go. Never recursive.
Result<JsonValueSpan> scanFirstJsonValue(std::string_view text);

// What Go's Decode(&T) of a struct type reports for `text`: the syntax error, or
// "json: cannot unmarshal array into Go value of type <goType>" for a value that is neither an
// object nor null. Errors are INVALID with that message.
Result<void> checkJsonForStruct(std::string_view text, std::string_view goType);

// Go's quoteChar: how encoding/json names an offending byte in its messages ('x', '\x01', '"').
std::string goQuoteChar(unsigned char c);

}  // namespace tnet::apid
