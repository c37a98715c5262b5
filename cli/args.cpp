#include "cli/args.h"

#include <cctype>

namespace tnet::cli {

std::vector<std::string> normalizeArgs(std::vector<std::string> args) {
  if (args.size() == 1 && (args[0] == "-V" || args[0] == "--version")) return {"version"};
  if (args.size() == 1 && args[0] == "help") return {"--help"};
  std::vector<std::string> out;
  bool passThrough = false;
  for (auto& a : args) {
    if (passThrough) {
      out.push_back(std::move(a));
      continue;
    }
    if (a == "--") {
      passThrough = true;
      out.push_back(std::move(a));
      continue;
    }
    if (a.size() > 2 && a[0] == '-' && a[1] != '-' && std::isalpha(static_cast<unsigned char>(a[1])) &&
        std::isalpha(static_cast<unsigned char>(a[2]))) {
      a = "-" + a;  // (not insert(0, …): GCC 12 reports a false -Wrestrict there)
    }
    if (a.size() > 3 && a.rfind("--", 0) == 0 && a.back() == '=' && a.find('=') == a.size() - 1) {
      out.push_back(a.substr(0, a.size() - 1));
      out.emplace_back();
      continue;
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace tnet::cli
