#include "libs/net/http_types.h"

namespace tnet::net {

namespace {
bool equalsAsciiNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}
}  // namespace

std::optional<std::string_view> headerValue(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (equalsAsciiNoCase(n, name)) return std::string_view(v);
  }
  return std::nullopt;
}

}  // namespace tnet::net
