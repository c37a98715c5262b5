// Test-only helpers shared by noise_test.cpp and controlbase_test.cpp: loading the known-answer
// vectors from TNET_VECTORS_DIR (tests skip with a message when it is not set).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "libs/base/bytes.h"

namespace tnet::testing {

// TNET_VECTORS_DIR first; then the places the top-level CMakeLists looks, relative to
// TNET_SOURCE_DIR (CMake 3.25's gtest_discover_tests passes only the first variable of a
// multi-variable ENVIRONMENT property, so TNET_VECTORS_DIR may be missing).
inline std::optional<nlohmann::json> loadVector(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("TNET_VECTORS_DIR"); d != nullptr && *d != '\0') dirs.emplace_back(d);
  if (const char* s = std::getenv("TNET_SOURCE_DIR"); s != nullptr && *s != '\0') {
    dirs.push_back(std::string(s) + "/tests/vectors");
    dirs.push_back(std::string(s) + "/../shared/vectors");
  }
  for (const auto& dir : dirs) {
    std::ifstream in(dir + "/" + name);
    if (in) return nlohmann::json::parse(in);
  }
  return std::nullopt;
}

inline Bytes unhex(const nlohmann::json& j) {
  auto b = hexDecode(j.get<std::string>());
  EXPECT_TRUE(b.has_value()) << "bad hex in vector: " << j;
  return b.value_or(Bytes{});
}

}  // namespace tnet::testing

#define TNET_LOAD_VECTOR_OR_SKIP(var, name)                                                      \
  auto var##_opt = ::tnet::testing::loadVector(name);                                            \
  if (!var##_opt)                                                                                \
    GTEST_SKIP() << "vector " << name << " not found (set TNET_VECTORS_DIR or TNET_SOURCE_DIR)"; \
  const nlohmann::json& var = *var##_opt
