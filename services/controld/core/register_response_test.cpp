#include "services/controld/core/register_response.h"

#include <gtest/gtest.h>

namespace tnet::controld {
namespace {

TEST(RegisterResponse, Authorized) {
  auto r = decodeRegisterResponse(
      R"({"User":{"ID":42,"DisplayName":"Alice","ProfilePicURL":"https://p/a.png","Created":"2024-01-01T00:00:00Z"},
          "Login":{"ID":7,"Provider":"github","LoginName":"alice@example.com","DisplayName":"Alice"},
          "NodeKeyExpired":false,"MachineAuthorized":true,"AuthURL":"","Error":""})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->user.id, 42);
  EXPECT_EQ(r->user.displayName, "Alice");
  EXPECT_EQ(r->login.loginName, "alice@example.com");
  EXPECT_EQ(r->login.provider, "github");
  EXPECT_TRUE(r->machineAuthorized);
  EXPECT_TRUE(r->loggedIn());
}

TEST(RegisterResponse, InteractiveAndPendingApproval) {
  auto r = decodeRegisterResponse(R"({"AuthURL":"https://login.example/a/123","MachineAuthorized":false})");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->loggedIn());
  EXPECT_EQ(r->authUrl, "https://login.example/a/123");
  // Go: no URL and no error is logged in even when the machine still awaits approval.
  auto pending = decodeRegisterResponse(R"({"MachineAuthorized":false,"User":null,"Login":null})");
  ASSERT_TRUE(pending);
  EXPECT_TRUE(pending->loggedIn());
  EXPECT_FALSE(pending->machineAuthorized);
  auto expired = decodeRegisterResponse(R"({"nodekeyexpired":true})");  // Go matches keys case-insensitively
  ASSERT_TRUE(expired);
  EXPECT_TRUE(expired->nodeKeyExpired);
}

TEST(RegisterResponse, ErrorsAndMalformed) {
  auto e = decodeRegisterResponse(R"({"Error":"invalid key: not found"})");
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->loggedIn());
  EXPECT_EQ(e->error, "invalid key: not found");
  EXPECT_FALSE(decodeRegisterResponse("{"));
  EXPECT_FALSE(decodeRegisterResponse("[]"));
  EXPECT_FALSE(decodeRegisterResponse(R"({"MachineAuthorized":"yes"})"));
  EXPECT_FALSE(decodeRegisterResponse(R"({"User":{"ID":"x"}})"));
  EXPECT_FALSE(decodeRegisterResponse(std::string(MAX_REGISTER_RESPONSE + 1, ' ')));
}

}  // namespace
}  // namespace tnet::controld
