#include "libs/net/h2_nv.h"

namespace tnet::net::h2 {

namespace {
bool isConnectionSpecific(std::string_view lower) {
  return lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
         lower == "transfer-encoding" || lower == "upgrade" || lower == "host";
}
}  // namespace

void NvList::add(std::string_view name, std::string_view value) {
  storage.emplace_back(name);
  storage.emplace_back(value);
}

void NvList::addUser(const HeaderList& headers) {
  for (const auto& [name, value] : headers) {
    std::string lower(name);
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    if (lower.empty() || lower[0] == ':' || isConnectionSpecific(lower)) continue;
    add(lower, value);
  }
}

void NvList::finish() {
  nv.clear();
  for (size_t i = 0; i + 1 < storage.size(); i += 2) {
    nghttp2_nv x{};
    x.name = reinterpret_cast<uint8_t*>(storage[i].data());
    x.namelen = storage[i].size();
    x.value = reinterpret_cast<uint8_t*>(storage[i + 1].data());
    x.valuelen = storage[i + 1].size();
    x.flags = NGHTTP2_NV_FLAG_NONE;
    nv.push_back(x);
  }
}

std::string errorCodeName(uint32_t code) {
  switch (code) {
    case NGHTTP2_NO_ERROR:
      return "NO_ERROR";
    case NGHTTP2_PROTOCOL_ERROR:
      return "PROTOCOL_ERROR";
    case NGHTTP2_INTERNAL_ERROR:
      return "INTERNAL_ERROR";
    case NGHTTP2_FLOW_CONTROL_ERROR:
      return "FLOW_CONTROL_ERROR";
    case NGHTTP2_SETTINGS_TIMEOUT:
      return "SETTINGS_TIMEOUT";
    case NGHTTP2_STREAM_CLOSED:
      return "STREAM_CLOSED";
    case NGHTTP2_FRAME_SIZE_ERROR:
      return "FRAME_SIZE_ERROR";
    case NGHTTP2_REFUSED_STREAM:
      return "REFUSED_STREAM";
    case NGHTTP2_CANCEL:
      return "CANCEL";
    case NGHTTP2_COMPRESSION_ERROR:
      return "COMPRESSION_ERROR";
    case NGHTTP2_CONNECT_ERROR:
      return "CONNECT_ERROR";
    case NGHTTP2_ENHANCE_YOUR_CALM:
      return "ENHANCE_YOUR_CALM";
    case NGHTTP2_INADEQUATE_SECURITY:
      return "INADEQUATE_SECURITY";
    case NGHTTP2_HTTP_1_1_REQUIRED:
      return "HTTP_1_1_REQUIRED";
    default:
      return "error " + std::to_string(code);
  }
}

}  // namespace tnet::net::h2
