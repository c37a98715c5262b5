// JSON decoding shared by the small ts2021 JSON documents (the /key reply, the early payload),
// following Go's encoding/json where it matters to us.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string_view>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"

namespace tnet::controlbase {

// Parses a whole document (trailing garbage is an error) keeping members in document order,
// refusing nesting deeper than maxDepth (deep values are dropped while parsing, so hostile
// nesting never builds a deep tree). Unlike Go, invalid UTF-8 inside strings is an error.
Result<nlohmann::ordered_json> parseJsonDocument(ByteSpan text, int maxDepth = 32);

// The members Go's json.Unmarshal would store into a struct field named `name`, in document
// order: every key equal to it ignoring ASCII case. Go applies them in turn (the last one wins;
// a JSON null leaves the field unchanged).
std::vector<const nlohmann::ordered_json*> fieldsLikeGo(const nlohmann::ordered_json& object,
                                                        std::string_view name);

}  // namespace tnet::controlbase
