#include "libs/wire/controlbase_json.h"

#include <nlohmann/json.hpp>

#include "libs/ipn/go_json.h"

namespace tnet::controlbase {

Result<nlohmann::ordered_json> parseJsonDocument(ByteSpan text, int maxDepth) {
  bool tooDeep = false;
  auto limitDepth = [&](int depth, nlohmann::ordered_json::parse_event_t, nlohmann::ordered_json&) {
    if (depth > maxDepth) tooDeep = true;
    return depth <= maxDepth;
  };
  auto doc = nlohmann::ordered_json::parse(text.begin(), text.end(), limitDepth, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error::invalid("invalid JSON");
  if (tooDeep) return Error::invalid("JSON nested too deeply");
  return doc;
}

std::vector<const nlohmann::ordered_json*> fieldsLikeGo(const nlohmann::ordered_json& object,
                                                        std::string_view name) {
  std::vector<const nlohmann::ordered_json*> found;
  if (!object.is_object()) return found;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (ipn::keyEqualFold(it.key(), name)) found.push_back(&it.value());
  }
  return found;
}

}  // namespace tnet::controlbase
