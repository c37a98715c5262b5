// LocalAPI semantics: status codes, bodies and permissions as Go's localapi.go.
#include <gtest/gtest.h>

#include "libs/ipn/go_json.h"
#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {
namespace {

struct LocalApi : ::testing::Test {
  LocalApi() {
    BackendOptions o;
    o.version = "0.1.0";
    o.osHostname = "h";
    o.expectedServices = {"wgd"};
    o.newSessionId = [] { return std::string("feedfacefeedface"); };
    b = std::make_unique<Backend>(o);
    b->startAtBoot();
  }
  LocalApiResponse call(std::string method, std::string name, std::string body = "", bool privileged = true,
                        std::string query = "", std::optional<std::string> user = std::nullopt) {
    LocalApiRequest r;
    r.method = std::move(method);
    r.path = "/localapi/v0/" + name;
    r.body = std::move(body);
    r.query = std::move(query);
    r.callerPrivileged = privileged;
    r.callerUserName = std::move(user);
    return b->handleLocalApi(r, 0);
  }
  std::unique_ptr<Backend> b;
};

TEST_F(LocalApi, StatusIsTabIndentedGoJson) {
  auto r = call("GET", "status", "", false);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.contentType, "application/json");
  EXPECT_EQ(
      r.body.rfind("{\n\t\"Version\": \"0.1.0\",\n\t\"TUN\": false,\n\t\"BackendState\": \"NeedsLogin\",", 0),
      0u)
      << r.body;
  auto doc = ipn::parseJson(r.body);
  ASSERT_TRUE(doc);
  EXPECT_EQ((*doc)["Health"][0], "wgd: no health report received");
  EXPECT_EQ(call("GET", "status", "", false, "peers=false").status, 200);
}

TEST_F(LocalApi, PrefsGetAndPatch) {
  auto r = call("GET", "prefs", "", false);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.back(), '\n');
  EXPECT_NE(r.body.find("\t\"ControlURL\": \"\""), std::string::npos);
  r = call("PATCH", "prefs", R"({"ShieldsUp":true,"ShieldsUpSet":true})");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"ShieldsUp\": true"), std::string::npos);
  EXPECT_TRUE(b->prefs().shieldsUp);
  EXPECT_TRUE(b->takePrefsDirty());
  r = call("PATCH", "prefs", R"({"ShieldsUp":true,"ShieldsUpSet":true})");
  EXPECT_FALSE(b->takePrefsDirty()) << "no change, nothing to save";
  r = call("DELETE", "prefs");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.body, "unsupported method\n");
}

TEST_F(LocalApi, PrefsPatchErrors) {
  auto r = call("PATCH", "prefs", R"({"ShieldsUp":true,"ShieldsUpSet":true})", false);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body, "prefs write access denied\n");
  r = call("PATCH", "prefs", R"({"ShieldsUpp":true})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.contentType, "text/plain; charset=utf-8");
  EXPECT_NE(r.body.find("unknown field \"ShieldsUpp\""), std::string::npos);
  r = call("PATCH", "prefs", R"({"InternalExitNodePriorSet":true})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "{\"Error\":\"can't set Internal fields\"}\n");
  r = call("PATCH", "prefs", R"({"RunSSH":true,"RunSSHSet":true})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.contentType, "application/json");
  EXPECT_FALSE(b->prefs().runSsh);
  r = call(
      "PATCH", "prefs",
      R"({"ExitNodeIP":"100.64.0.2","ExitNodeIPSet":true,"AdvertiseRoutes":["0.0.0.0/0","::/0"],"AdvertiseRoutesSet":true})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("Cannot advertise an exit node and use an exit node"), std::string::npos);
}

TEST_F(LocalApi, OperatorUserMayWrite) {
  call("PATCH", "prefs", R"({"OperatorUser":"alice","OperatorUserSet":true})");
  EXPECT_EQ(call("PATCH", "prefs", R"({"ShieldsUpSet":true,"ShieldsUp":true})", false, "", "alice").status,
            200);
  EXPECT_EQ(call("PATCH", "prefs", R"({"ShieldsUpSet":true,"ShieldsUp":false})", false, "", "bob").status,
            403);
}

TEST_F(LocalApi, CheckPrefs) {
  auto r = call("POST", "check-prefs", R"({"RunSSH":true})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"Error\":\"Tailscale SSH is not supported by tailnetd\"}\n");
  r = call("POST", "check-prefs", R"({"WantRunning":true})");
  EXPECT_EQ(r.body, "{}\n");
  EXPECT_EQ(call("POST", "check-prefs", "nope").body, "invalid JSON body\n");
  EXPECT_EQ(call("GET", "check-prefs").status, 405);
  EXPECT_EQ(call("POST", "check-prefs", "{}", false).status, 403);
}

TEST_F(LocalApi, StartLoginLogoutMethodsAndPermissions) {
  for (const char* ep : {"start", "login-interactive", "logout"}) {
    auto r = call("GET", ep);
    EXPECT_EQ(r.status, 400) << ep;
    EXPECT_EQ(r.body, "want POST\n");
    EXPECT_EQ(call("POST", ep, "{}", false).status, 403) << ep;
  }
  EXPECT_EQ(call("POST", "start", "{").status, 400);
  EXPECT_EQ(call("POST", "start", "{}").status, 204);
  EXPECT_EQ(call("POST", "login-interactive").status, 204);
  EXPECT_EQ(call("POST", "logout").status, 204);
}

TEST_F(LocalApi, WatchIpnBusInitialNotify) {
  uint64_t seqBefore = b->notifySeq();
  auto r = call("GET", "watch-ipn-bus", "", false, "mask=0");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty()) << "mask 0: no initial message";
  EXPECT_EQ(r.notifySeq, seqBefore);
  r = call("GET", "watch-ipn-bus", "", false, "mask=6");
  EXPECT_EQ(r.status, 200);
  auto doc = ipn::parseJson(r.body);
  ASSERT_TRUE(doc) << r.body;
  EXPECT_EQ((*doc)["State"], 2);
  EXPECT_EQ((*doc)["SessionID"], "feedfacefeedface");
  EXPECT_TRUE((*doc)["Prefs"].is_object());
  r = call("GET", "watch-ipn-bus", "", false, "mask=16512");  // InitialStatus | InitialHealth
  doc = ipn::parseJson(r.body);
  ASSERT_TRUE(doc) << r.body;
  EXPECT_EQ((*doc)["InitialStatus"]["BackendState"], "NeedsLogin");
  EXPECT_TRUE((*doc)["Health"]["Warnings"].contains("tailnetd-wgd"));
  EXPECT_EQ(call("GET", "watch-ipn-bus", "", false, "mask=x").body, "bad mask\n");
  EXPECT_EQ(call("GET", "watch-ipn-bus", "", false, "mask=65536").status, 400);
}

TEST_F(LocalApi, IsolationAndUnknownPaths) {
  ServiceHealth h;
  h.service = "wgd";
  h.state = "ok";
  h.isolation = ipn::OrderedJson{{"netnsInode", 4026531992u}};
  b->updateServiceHealth(h);
  auto r = call("GET", "tailnetd/isolation", "", false);
  EXPECT_EQ(r.status, 200);
  auto doc = ipn::parseJson(r.body);
  ASSERT_TRUE(doc && doc->is_array());
  EXPECT_EQ((*doc)[0]["Service"], "wgd");
  EXPECT_EQ((*doc)[0]["Present"], true);
  EXPECT_EQ(call("GET", "nope").status, 404);
  LocalApiRequest odd;
  odd.method = "GET";
  odd.path = "/other";
  EXPECT_EQ(b->handleLocalApi(odd, 0).body, "404 page not found\n");
}

}  // namespace
}  // namespace tnet::ipnd
