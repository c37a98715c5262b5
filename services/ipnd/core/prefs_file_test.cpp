#include "services/ipnd/core/prefs_file.h"

#include <gtest/gtest.h>

namespace tnet::ipnd {
namespace {

TEST(PrefsFile, RoundTrip) {
  PrefsFile f;
  f.prefs.wantRunning = true;
  f.prefs.hostname = "n1";
  f.nodePublicKey = "nodekey:" + std::string(64, 'b');
  std::string text = encodePrefsFile(f);
  EXPECT_EQ(text.rfind("{\n\t\"Format\": \"tailnetd-prefs/1\",\n\t\"Prefs\": {", 0), 0u) << text;
  auto back = decodePrefsFile(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(ipn::prefsEqual(back->prefs, f.prefs));
  EXPECT_EQ(back->nodePublicKey, f.nodePublicKey);
  EXPECT_EQ(encodePrefsFile(*back), text);
}

TEST(PrefsFile, FreshHasNoNodeKey) {
  auto back = decodePrefsFile(encodePrefsFile(PrefsFile{}));
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->nodePublicKey);
  EXPECT_TRUE(back->prefs.corpDns);
}

TEST(PrefsFile, AnythingOddIsAnError) {
  const char* bad[] = {
      "",
      "{",
      "[]",
      R"({"Prefs":{}})",
      R"({"Format":"tailnetd-prefs/2","Prefs":{}})",
      R"({"Format":"tailnetd-prefs/1"})",
      R"({"Format":"tailnetd-prefs/1","Prefs":[]})",
      R"({"Format":"tailnetd-prefs/1","Prefs":{"WantRunning":"x"}})",
      R"({"Format":"tailnetd-prefs/1","Prefs":{},"NodePublicKey":"nodekey:12"})",
      R"({"Format":"tailnetd-prefs/1","Prefs":{},"AuthKey":"tskey"})",
  };
  for (const char* b : bad) EXPECT_FALSE(decodePrefsFile(b)) << b;
  std::string nulTail = std::string("{\"Format\":\"tailnetd-prefs/1\",\"Prefs\":{}}") + '\0' + "x";
  EXPECT_FALSE(decodePrefsFile(nulTail)) << "bytes after the document";
  EXPECT_TRUE(decodePrefsFile(R"({"Format":"tailnetd-prefs/1","Prefs":{}})"));
  std::string truncated = encodePrefsFile(PrefsFile{});
  truncated.resize(truncated.size() / 2);
  EXPECT_FALSE(decodePrefsFile(truncated));
}

}  // namespace
}  // namespace tnet::ipnd
