// Every row of the endpoint table against Go's handlers in ipn/localapi/localapi.go.
#include "services/apid/core/endpoints.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace tnet::apid {
namespace {

const MethodRule* rule(std::string_view path, std::string_view method) {
  const Endpoint* e = findEndpoint(path);
  EXPECT_NE(e, nullptr) << path;
  return e ? findMethod(*e, method) : nullptr;
}

TEST(Endpoints, ContractPathsArePresentAndUnique) {
  std::set<std::string> names;
  for (const Endpoint& e : endpointTable()) {
    EXPECT_TRUE(names.insert(std::string(e.name)).second) << e.name;
    EXPECT_FALSE(e.methods.empty()) << e.name;
    EXPECT_FALSE(e.deniedMessage.empty()) << e.name;
  }
  for (const char* n : {"status", "prefs", "check-prefs", "start", "login-interactive", "logout",
                        "watch-ipn-bus", "tailnetd/isolation", "whois", "ping", "tailnetd/netcheck"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
}

TEST(Endpoints, PingWhoIsNetcheckNeedReadOnlyAsGo) {
  EXPECT_FALSE(rule("/localapi/v0/ping", "POST")->needsWrite);
  EXPECT_EQ(rule("/localapi/v0/ping", "GET"), nullptr);
  EXPECT_EQ(findEndpoint("/localapi/v0/ping")->wrongMethodStatus, 400);
  EXPECT_EQ(findEndpoint("/localapi/v0/ping")->wrongMethodMessage, "want POST");
  for (const char* m : {"GET", "POST"}) EXPECT_FALSE(rule("/localapi/v0/whois", m)->needsWrite) << m;
  EXPECT_FALSE(rule("/localapi/v0/tailnetd/netcheck", "GET")->needsWrite);
  EXPECT_EQ(rule("/localapi/v0/tailnetd/netcheck", "POST"), nullptr);
}

TEST(Endpoints, LookupIsExact) {
  EXPECT_NE(findEndpoint("/localapi/v0/status"), nullptr);
  EXPECT_EQ(findEndpoint("/localapi/v0/status/"), nullptr);
  EXPECT_EQ(findEndpoint("/localapi/v0/Status"), nullptr);
  EXPECT_EQ(findEndpoint("/localapi/v1/status"), nullptr);
  EXPECT_EQ(findEndpoint("/status"), nullptr);
  EXPECT_EQ(findEndpoint("/localapi/v0/"), nullptr);
  EXPECT_EQ(findEndpoint("/localapi/v0/tailnetd"), nullptr);
  EXPECT_NE(findEndpoint("/localapi/v0/tailnetd/isolation"), nullptr);
}

TEST(Endpoints, StatusAndWatchAcceptAnyMethodAsGo) {
  for (const char* m : {"GET", "POST", "DELETE", "HEAD"}) {
    ASSERT_NE(rule("/localapi/v0/status", m), nullptr) << m;
    EXPECT_FALSE(rule("/localapi/v0/status", m)->needsWrite);
    ASSERT_NE(rule("/localapi/v0/watch-ipn-bus", m), nullptr) << m;
    EXPECT_FALSE(rule("/localapi/v0/watch-ipn-bus", m)->needsWrite);
  }
  EXPECT_TRUE(findEndpoint("/localapi/v0/watch-ipn-bus")->streaming);
  EXPECT_FALSE(findEndpoint("/localapi/v0/status")->streaming);
}

TEST(Endpoints, PrefsReadsWithGetWritesWithPatch) {
  EXPECT_FALSE(rule("/localapi/v0/prefs", "GET")->needsWrite);
  EXPECT_FALSE(rule("/localapi/v0/prefs", "HEAD")->needsWrite);
  const MethodRule* patch = rule("/localapi/v0/prefs", "PATCH");
  ASSERT_NE(patch, nullptr);
  EXPECT_TRUE(patch->needsWrite);
  EXPECT_EQ(patch->body, BodyCheck::JSON_DECODE);
  EXPECT_EQ(patch->goType, "ipn.MaskedPrefs");
  EXPECT_EQ(rule("/localapi/v0/prefs", "POST"), nullptr);
  EXPECT_EQ(rule("/localapi/v0/prefs", "PUT"), nullptr);
  const Endpoint* e = findEndpoint("/localapi/v0/prefs");
  EXPECT_EQ(e->wrongMethodStatus, 405);
  EXPECT_EQ(e->wrongMethodMessage, "unsupported method");
  EXPECT_EQ(e->deniedMessage, "prefs write access denied");
}

TEST(Endpoints, WritesArePostOnlyWithGoStatuses) {
  struct Row {
    const char* name;
    uint16_t status;
    const char* message;
    const char* denied;
  };
  for (const Row& r : {Row{"check-prefs", 405, "unsupported method", "checkprefs access denied"},
                       Row{"start", 400, "want POST", "access denied"},
                       Row{"login-interactive", 400, "want POST", "login access denied"},
                       Row{"logout", 400, "want POST", "logout access denied"}}) {
    std::string path = std::string("/localapi/v0/") + r.name;
    const Endpoint* e = findEndpoint(path);
    ASSERT_NE(e, nullptr) << r.name;
    EXPECT_EQ(e->wrongMethodStatus, r.status) << r.name;
    EXPECT_EQ(e->wrongMethodMessage, r.message) << r.name;
    EXPECT_EQ(e->deniedMessage, r.denied) << r.name;
    ASSERT_NE(findMethod(*e, "POST"), nullptr);
    EXPECT_TRUE(findMethod(*e, "POST")->needsWrite) << r.name;
    EXPECT_EQ(findMethod(*e, "GET"), nullptr) << r.name;
    EXPECT_EQ(findMethod(*e, "PUT"), nullptr) << r.name;
  }
  EXPECT_EQ(rule("/localapi/v0/check-prefs", "POST")->body, BodyCheck::JSON_FIXED);
  EXPECT_EQ(rule("/localapi/v0/check-prefs", "POST")->fixedJsonError, "invalid JSON body");
  EXPECT_EQ(rule("/localapi/v0/start", "POST")->body, BodyCheck::JSON_DECODE);
  EXPECT_EQ(rule("/localapi/v0/start", "POST")->goType, "ipn.Options");
  EXPECT_EQ(rule("/localapi/v0/logout", "POST")->body, BodyCheck::NONE);
  EXPECT_EQ(rule("/localapi/v0/login-interactive", "POST")->body, BodyCheck::NONE);
}

TEST(Endpoints, IsolationIsReadOnlyGet) {
  EXPECT_FALSE(rule("/localapi/v0/tailnetd/isolation", "GET")->needsWrite);
  EXPECT_EQ(rule("/localapi/v0/tailnetd/isolation", "POST"), nullptr);
  EXPECT_EQ(rule("/localapi/v0/tailnetd/isolation", "HEAD"), nullptr);  // as ipnd
  EXPECT_EQ(findEndpoint("/localapi/v0/tailnetd/isolation")->wrongMethodMessage, "unsupported method");
}

TEST(Endpoints, WriteOnlyEndpointsCheckPermissionFirstAsGo) {
  for (const char* p : {"check-prefs", "start", "login-interactive", "logout"}) {
    EXPECT_TRUE(findEndpoint(std::string("/localapi/v0/") + p)->writeCheckedFirst) << p;
  }
  // servePrefs switches on the method before looking at write permission.
  for (const char* p : {"status", "prefs", "watch-ipn-bus", "tailnetd/isolation"}) {
    EXPECT_FALSE(findEndpoint(std::string("/localapi/v0/") + p)->writeCheckedFirst) << p;
  }
}

}  // namespace
}  // namespace tnet::apid
