#include "cli/args.h"

#include <gtest/gtest.h>

namespace tnet::cli {
namespace {

using Args = std::vector<std::string>;

TEST(Args, GoSpellingsBecomeCli11Ones) {
  EXPECT_EQ(normalizeArgs({"set", "--advertise-routes="}), (Args{"set", "--advertise-routes", ""}));
  EXPECT_EQ(normalizeArgs({"up", "-hostname=web", "-authkey", "k"}),
            (Args{"up", "--hostname=web", "--authkey", "k"}));
  EXPECT_EQ(normalizeArgs({"status", "-h"}), (Args{"status", "-h"}));
  EXPECT_EQ(normalizeArgs({"--version"}), (Args{"version"}));
  EXPECT_EQ(normalizeArgs({"-V"}), (Args{"version"}));
  EXPECT_EQ(normalizeArgs({"help"}), (Args{"--help"}));
  EXPECT_EQ(normalizeArgs({"set", "--hostname=a=b"}), (Args{"set", "--hostname=a=b"}));
  EXPECT_EQ(normalizeArgs({"x", "--", "-foo", "--bar="}), (Args{"x", "--", "-foo", "--bar="}));
  EXPECT_EQ(normalizeArgs({}), Args{});
}

}  // namespace
}  // namespace tnet::cli
