// Test-only helpers shared by noise_test.cpp and controlbase_test.cpp: loading the known-answer
// vectors from TNET_VECTORS_DIR (tests skip with a message when it is not set).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "libs/base/bytes.h"

namespace tnet::testing {

inline std::optional<nlohmann::json> loadVector(const std::string& name) {
  const char* dir = std::getenv("TNET_VECTORS_DIR");
  if (dir == nullptr || *dir == '\0') return std::nullopt;
  std::ifstream in(std::string(dir) + "/" + name);
  if (!in) return std::nullopt;
  return nlohmann::json::parse(in);
}

inline Bytes unhex(const nlohmann::json& j) {
  auto b = hexDecode(j.get<std::string>());
  EXPECT_TRUE(b.has_value()) << "bad hex in vector: " << j;
  return b.value_or(Bytes{});
}

}  // namespace tnet::testing

#define TNET_LOAD_VECTOR_OR_SKIP(var, name)                                             \
  auto var##_opt = ::tnet::testing::loadVector(name);                                   \
  if (!var##_opt) GTEST_SKIP() << "vector " << name << " not found (set TNET_VECTORS_DIR)"; \
  const nlohmann::json& var = *var##_opt
