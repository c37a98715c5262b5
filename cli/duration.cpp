#include "cli/duration.h"

#include <cstdint>
#include <limits>
#include <string>

namespace tnet::cli {
namespace {

struct Unit {
  std::string_view name;
  uint64_t nanos;
};

// Longest names first so "ms" is not read as "m" followed by garbage.
constexpr Unit UNITS[] = {
    {"ns", 1},           {"us", 1000},         {"\xc2\xb5s", 1000},  // U+00B5 micro sign
    {"\xce\xbcs", 1000},                                             // U+03BC Greek mu
    {"ms", 1000000},     {"s", 1000000000ULL}, {"m", 60ULL * 1000000000ULL}, {"h", 3600ULL * 1000000000ULL},
};

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

Error invalidDuration(std::string_view text) {
  return Error::invalid("invalid duration \"" + std::string(text) + "\"");
}

}  // namespace

Result<std::chrono::nanoseconds> parseDuration(std::string_view text) {
  const std::string_view orig = text;
  bool negative = false;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text.empty()) return invalidDuration(orig);

  // A bare (possibly fractional) number is seconds.
  bool bare = true;
  for (char c : text) {
    if (!isDigit(c) && c != '.') bare = false;
  }
  std::string withUnit;
  if (bare) {
    withUnit = std::string(text) + "s";
    text = withUnit;
  }

  constexpr uint64_t MAX = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t total = 0;
  while (!text.empty()) {
    // Integer part.
    uint64_t whole = 0;
    size_t i = 0;
    bool anyDigits = false;
    while (i < text.size() && isDigit(text[i])) {
      if (whole > (MAX - 9) / 10) return invalidDuration(orig);
      whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
      ++i;
      anyDigits = true;
    }
    // Fraction: keep up to 18 digits, enough for nanosecond resolution of any unit.
    uint64_t frac = 0;
    uint64_t fracScale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && isDigit(text[i])) {
        if (fracScale < 1000000000000000000ULL) {
          frac = frac * 10 + static_cast<uint64_t>(text[i] - '0');
          fracScale *= 10;
        }
        ++i;
        anyDigits = true;
      }
    }
    if (!anyDigits) return invalidDuration(orig);
    text.remove_prefix(i);

    size_t unitLen = 0;
    while (unitLen < text.size() && text[unitLen] != '.' && !isDigit(text[unitLen])) ++unitLen;
    if (unitLen == 0) return Error::invalid("missing unit in duration \"" + std::string(orig) + "\"");
    std::string_view unitName = text.substr(0, unitLen);
    const Unit* unit = nullptr;
    for (const Unit& u : UNITS) {
      if (u.name == unitName) unit = &u;
    }
    if (unit == nullptr) {
      return Error::invalid("unknown unit \"" + std::string(unitName) + "\" in duration \"" +
                            std::string(orig) + "\"");
    }
    text.remove_prefix(unitLen);

    if (whole > MAX / unit->nanos) return invalidDuration(orig);
    uint64_t v = whole * unit->nanos;
    // frac/fracScale of a unit, computed without overflow: unit->nanos ≤ 3.6e12, frac < 1e18.
    long double fracNanos = static_cast<long double>(frac) * static_cast<long double>(unit->nanos) /
                            static_cast<long double>(fracScale);
    v += static_cast<uint64_t>(fracNanos);
    if (v > MAX || total > MAX - v) return invalidDuration(orig);
    total += v;
  }
  auto n = static_cast<int64_t>(total);
  return std::chrono::nanoseconds(negative ? -n : n);
}

std::string formatDuration(std::chrono::nanoseconds d) {
  int64_t n = d.count();
  if (n == 0) return "0s";
  std::string sign = n < 0 ? "-" : "";
  uint64_t u = n < 0 ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
  auto fraction = [](uint64_t value, uint64_t scale) {
    // value/scale with trailing zeros trimmed, as Go prints "1.5s".
    std::string s = std::to_string(value / scale);
    uint64_t rem = value % scale;
    if (rem == 0) return s;
    std::string digits = std::to_string(rem);
    digits.insert(0, std::to_string(scale).size() - 1 - digits.size(), '0');
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    return s + "." + digits;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + fraction(u, 1000) + "\xc2\xb5s";
  if (u < 1000000000ULL) return sign + fraction(u, 1000000) + "ms";
  std::string out;
  uint64_t secNanos = u % 60000000000ULL;
  uint64_t minutes = u / 60000000000ULL;
  out = fraction(secNanos, 1000000000ULL) + "s";
  if (minutes > 0) {
    uint64_t hours = minutes / 60;
    out = std::to_string(minutes % 60) + "m" + out;
    if (hours > 0) out = std::to_string(hours) + "h" + out;
  }
  return sign + out;
}

}  // namespace tnet::cli
