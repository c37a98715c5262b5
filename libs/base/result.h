// Result<T>: an expected failure as a value (STYLE.md §C++ Errors). The API follows
// std::expected (C++23) closely enough that switching later is a rename: has_value(), value(),
// error(), operator bool, operator*, operator->. Bugs are not Results: they assert and abort.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tnet {

// The kinds a caller can act on. Names match the bus's Error kinds (schemas/common.capnp).
enum class ErrorKind {
  FAILED,         // something went wrong that retrying may fix
  INVALID,        // the input is malformed or violates a rule; retrying the same input fails again
  DENIED,         // the caller is not entitled to this
  OVERLOADED,     // a limit or queue is full; try later
  DISCONNECTED,   // the peer or service is gone
  UNIMPLEMENTED,  // the operation is not known here
};

std::string_view errorKindName(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::FAILED;
  std::string message;

  static Error failed(std::string m) { return {ErrorKind::FAILED, std::move(m)}; }
  static Error invalid(std::string m) { return {ErrorKind::INVALID, std::move(m)}; }
  static Error denied(std::string m) { return {ErrorKind::DENIED, std::move(m)}; }
  static Error overloaded(std::string m) { return {ErrorKind::OVERLOADED, std::move(m)}; }
  static Error disconnected(std::string m) { return {ErrorKind::DISCONNECTED, std::move(m)}; }
  static Error unimplemented(std::string m) { return {ErrorKind::UNIMPLEMENTED, std::move(m)}; }
};

// Wraps an Error so `return Unexpected(Error::invalid("..."))` reads like std::unexpected.
struct Unexpected {
  Error error;
  explicit Unexpected(Error e) : error(std::move(e)) {}
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit like expected
  Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!has_value()); return std::get<1>(v_); }
  Error& error() { assert(!has_value()); return std::get<1>(v_); }

  template <typename U>
  T value_or(U&& fallback) const& { return has_value() ? value() : T(std::forward<U>(fallback)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : err_(std::move(u.error)), ok_(false) {}  // NOLINT
  Result(Error e) : err_(std::move(e)), ok_(false) {}  // NOLINT

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { assert(ok_); }
  const Error& error() const { assert(!ok_); return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

// Propagate an error from a Result-returning expression: TNET_TRY(auto x, parse(buf));
#define TNET_CONCAT_INNER(a, b) a##b
#define TNET_CONCAT(a, b) TNET_CONCAT_INNER(a, b)
#define TNET_TRY(decl, expr)                                        \
  auto TNET_CONCAT(tnet_try_, __LINE__) = (expr);                   \
  if (!TNET_CONCAT(tnet_try_, __LINE__)) {                          \
    return ::tnet::Unexpected(TNET_CONCAT(tnet_try_, __LINE__).error()); \
  }                                                                 \
  decl = std::move(*TNET_CONCAT(tnet_try_, __LINE__))
#define TNET_TRY_VOID(expr)                                         \
  do {                                                              \
    auto tnet_try_v = (expr);                                       \
    if (!tnet_try_v) return ::tnet::Unexpected(tnet_try_v.error()); \
  } while (0)

}  // namespace tnet
