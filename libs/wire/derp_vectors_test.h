// Test-only: reads libs/../shared/vectors/tailscale-dataplane-kat.json for the DERP, disco, STUN
// and demux tests. Its *_raw sections are free text ("label  hex"), with "a0..bf" (or
// "a0a1...bf") meaning the byte run a0 a1 … bf; hexAfter() finds a label and expands the run.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/bytes.h"

namespace tnet::testvec {

// TNET_VECTORS_DIR, else the top-level CMakeLists' own defaults relative to TNET_SOURCE_DIR
// (CMake 3.25's gtest_discover_tests passes only the first ENVIRONMENT entry of tnet_test).
inline std::optional<nlohmann::json> loadDataplaneKat() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("TNET_VECTORS_DIR"); d && *d) dirs.emplace_back(d);
  if (const char* s = std::getenv("TNET_SOURCE_DIR"); s && *s) {
    dirs.push_back(std::string(s) + "/tests/vectors");
    dirs.push_back(std::string(s) + "/../shared/vectors");
  }
  for (const auto& dir : dirs) {
    std::ifstream in(dir + "/tailscale-dataplane-kat.json");
    if (!in) continue;
    auto doc = nlohmann::json::parse(in, nullptr, false);
    if (!doc.is_discarded()) return doc;
  }
  return std::nullopt;
}

inline bool isHexRunToken(const std::string& t) {
  if (t.size() < 2) return false;
  for (char c : t) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.')) return false;
  }
  return true;
}

// "0800000021a0..bf01" → hex with the run a0..bf spelled out.
inline std::string expandRuns(const std::string& t) {
  std::string out;
  size_t i = 0;
  while (i < t.size()) {
    if (t[i] == '.') {
      size_t dots = 0;
      while (i < t.size() && t[i] == '.') ++i, ++dots;
      EXPECT_TRUE(out.size() >= 2 && i + 2 <= t.size()) << "bad run in " << t;
      if (out.size() < 2 || i + 2 > t.size()) return out;
      int from = std::stoi(out.substr(out.size() - 2), nullptr, 16);
      int to = std::stoi(t.substr(i, 2), nullptr, 16);
      static const char* HEX = "0123456789abcdef";
      for (int v = from + 1; v <= to; ++v) {
        out.push_back(HEX[v >> 4]);
        out.push_back(HEX[v & 15]);
      }
      i += 2;
      continue;
    }
    out.push_back(t[i++]);
  }
  return out;
}

inline std::string firstToken(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_first_of(" \t", a);
  return s.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

// The hex following `label` in doc[section] (same line, else the next line).
inline Bytes hexAfter(const nlohmann::json& doc, const std::string& section, const std::string& label) {
  std::vector<std::string> lines;
  for (const auto& l : doc.at(section)) lines.push_back(l.get<std::string>());
  for (size_t i = 0; i < lines.size(); ++i) {
    size_t at = lines[i].find(label);
    if (at == std::string::npos) continue;
    std::string tok = firstToken(lines[i].substr(at + label.size()));
    if (!isHexRunToken(tok) && i + 1 < lines.size()) tok = firstToken(lines[i + 1]);
    auto bytes = hexDecode(expandRuns(tok));
    EXPECT_TRUE(bytes.has_value()) << "unparsable vector for " << label << ": " << tok;
    return bytes.value_or(Bytes{});
  }
  ADD_FAILURE() << "vector label not found: " << section << " / " << label;
  return {};
}

#define TNET_LOAD_KAT_OR_SKIP(var)                                                                  \
  auto var##_opt = ::tnet::testvec::loadDataplaneKat();                                             \
  if (!var##_opt) GTEST_SKIP() << "TNET_VECTORS_DIR unset or tailscale-dataplane-kat.json missing"; \
  const nlohmann::json& var = *var##_opt

}  // namespace tnet::testvec
