#include "supervisor/service_table.h"

#include <algorithm>

#include "schemas/bus_manifest.capnp.h"

namespace tnet::supervisor {
namespace {

// Start order (not in the manifest: it is the supervisor's decision). READY means "endpoints
// bound", so order only decides who finds its peers' endpoints already present.
constexpr const char* START_ORDER[] = {"wgd", "magicsockd", "netstackd", "controld", "ipnd", "apid"};

// Sanitizer runtimes read these; a sanitizer build passes them to every service.
#ifdef TNET_SANITIZE
constexpr const char* SANITIZER_ENV[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
#endif

std::vector<ServiceInfo> buildTable() {
  auto manifest = tnet::schema::MANIFEST.get();
  std::vector<ServiceInfo> table;
  for (const char* name : START_ORDER) {
    for (auto decl : manifest.getServices()) {
      if (decl.getName() != name) continue;
      ServiceInfo s;
      s.name = name;
      s.user = decl.getUser();
      for (auto e : manifest.getEveryServiceEnvironment()) s.environment.emplace_back(e);
      for (auto e : decl.getEnvironment()) s.environment.emplace_back(e);
#ifdef TNET_SANITIZE
      for (const char* e : SANITIZER_ENV) s.environment.emplace_back(e);
#endif
      // wgd never touches the network; ipnd and apid talk over Unix sockets only.
      std::string n = name;
      s.privateNetwork = n == "wgd" || n == "ipnd" || n == "apid";
      // Without root only a user namespace can give a private network namespace; wgd, the key
      // holder, gets one where the kernel allows it.
      s.privateNetworkUnprivileged = n == "wgd";
      table.push_back(std::move(s));
    }
  }
  return table;
}

}  // namespace

const std::vector<ServiceInfo>& serviceTable() {
  static const std::vector<ServiceInfo> table = buildTable();
  return table;
}

const ServiceInfo* findService(const std::string& name) {
  for (const auto& s : serviceTable()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string serviceGroup() {
  return tnet::schema::MANIFEST.get().getGroup();
}

std::vector<std::string> filterEnvironment(const std::vector<std::string>& environ,
                                           const std::vector<std::string>& allow) {
  std::vector<std::string> out;
  for (const auto& entry : environ) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string_view name(entry.data(), eq);
    bool admitted = std::any_of(allow.begin(), allow.end(), [&](const std::string& pattern) {
      if (!pattern.empty() && pattern.back() == '*') {
        return name.substr(0, pattern.size() - 1) == std::string_view(pattern).substr(0, pattern.size() - 1);
      }
      return name == pattern;
    });
    if (admitted) out.push_back(entry);
  }
  return out;
}

}  // namespace tnet::supervisor
