// Go's opt.Bool: a string-backed tri-state ("", "unset", "true", "false"). "" and "unset" both
// mean "no value"; they differ only in JSON: an omitempty field omits "" but writes "unset" as
// null, and decoding null yields "unset".
#pragma once

#include <optional>
#include <string_view>

#include "libs/base/result.h"
#include "libs/ipn/go_json.h"

namespace tnet::ipn {

class OptBool {
 public:
  enum class Raw { EMPTY, UNSET, TRUE_, FALSE_ };

  OptBool() = default;
  static OptBool of(bool v) { return OptBool(v ? Raw::TRUE_ : Raw::FALSE_); }
  static OptBool unset() { return OptBool(Raw::UNSET); }

  std::optional<bool> get() const {
    if (raw_ == Raw::TRUE_) return true;
    if (raw_ == Raw::FALSE_) return false;
    return std::nullopt;
  }
  bool equalBool(bool v) const { return get() == std::optional<bool>(v); }
  bool isEmpty() const { return raw_ == Raw::EMPTY; }  // Go's b == ""
  Raw raw() const { return raw_; }
  OptBool normalized() const { return raw_ == Raw::UNSET ? OptBool() : *this; }

  bool operator==(const OptBool& o) const { return raw_ == o.raw_; }

  // JSON: true / false / null ("" and "unset").
  OrderedJson toJson() const;
  // Accepts true, false, null (→ unset); anything else is the error Go gives.
  static Result<OptBool> fromJson(const Json& v, std::string_view typeName, std::string_view field);

 private:
  explicit OptBool(Raw r) : raw_(r) {}
  Raw raw_ = Raw::EMPTY;
};

}  // namespace tnet::ipn
