#include "libs/ipn/opt_bool.h"

namespace tnet::ipn {

OrderedJson OptBool::toJson() const {
  switch (raw_) {
    case Raw::TRUE_:
      return true;
    case Raw::FALSE_:
      return false;
    default:
      return nullptr;
  }
}

Result<OptBool> OptBool::fromJson(const Json& v, std::string_view typeName, std::string_view field) {
  if (v.is_null()) return OptBool::unset();
  if (v.is_boolean()) return OptBool::of(v.get<bool>());
  return Error::invalid("json: invalid opt.Bool value " +
                        v.dump(-1, ' ', false, Json::error_handler_t::replace) + " for " +
                        std::string(typeName) + "." + std::string(field));
}

}  // namespace tnet::ipn
