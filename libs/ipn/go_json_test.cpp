#include "libs/ipn/go_json.h"

#include <gtest/gtest.h>

namespace tnet::ipn {
namespace {

TEST(GoJsonString, EscapesAsGoEncodingJson) {
  EXPECT_EQ(goJsonString("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(goJsonString("<&>"), R"("\u003c\u0026\u003e")");
  EXPECT_EQ(goJsonString("\b\f\n\r\t\x01\x1f\x7f"), "\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"");
  EXPECT_EQ(goJsonString("\xe2\x80\xa8\xe2\x80\xa9"), R"("\u2028\u2029")");
  EXPECT_EQ(goJsonString("h\xc3\xa9 \xf0\x9f\x98\x80"), "\"h\xc3\xa9 \xf0\x9f\x98\x80\"");
}

TEST(GoJsonString, InvalidUtf8IsOneEscapedReplacementPerByte) {
  // utf8.DecodeRuneInString returns (RuneError, 1) for each byte of a broken sequence.
  EXPECT_EQ(goJsonString("\xff"), R"("\ufffd")");
  EXPECT_EQ(goJsonString("\xe2\x80" "a"), R"("\ufffd\ufffda")");
  EXPECT_EQ(goJsonString("\xc0\x80"), R"("\ufffd\ufffd")");           // overlong
  EXPECT_EQ(goJsonString("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(goJsonString("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(goJsonString(std::string_view("\0", 1)), R"("\u0000")");
}

TEST(GoMarshal, CompactAndIndentedLayoutLikeGo) {
  OrderedJson v = OrderedJson::object();
  v["B<"] = "x&y";
  v["A"] = OrderedJson::array({1, -2, true, nullptr});
  v["E"] = OrderedJson::object();
  v["F"] = OrderedJson::array();
  v["G"] = OrderedJson{{"k", 1.5}};
  EXPECT_EQ(goMarshal(v), R"({"B\u003c":"x\u0026y","A":[1,-2,true,null],"E":{},"F":[],"G":{"k":1.5}})");
  EXPECT_EQ(goMarshal(v, true),
            "{\n\t\"B\\u003c\": \"x\\u0026y\",\n\t\"A\": [\n\t\t1,\n\t\t-2,\n\t\ttrue,\n\t\tnull\n\t],\n"
            "\t\"E\": {},\n\t\"F\": [],\n\t\"G\": {\n\t\t\"k\": 1.5\n\t}\n}");
  EXPECT_EQ(goMarshal(OrderedJson("\xe2\x80")), R"("\ufffd\ufffd")");
  EXPECT_EQ(goMarshal(OrderedJson::object()), "{}");
}

TEST(GoMarshal, FloatsWithoutAFractionAreIntegersAsGo) {
  EXPECT_EQ(goMarshal(OrderedJson::array({2.0, 0.0, -3.0, 0.25, 1e20, 0.000276204})),
            "[2,0,-3,0.25,100000000000000000000,0.000276204]");
}

TEST(GoMarshal, IndentWithPrefixAsMarshalIndent) {
  OrderedJson v = OrderedJson::object();
  v["a"] = OrderedJson::array({1, 2.0});
  v["b"] = OrderedJson::object();
  // json.MarshalIndent(v, ">", "  "): the prefix starts every line but the first.
  EXPECT_EQ(goMarshalIndent(v, ">", "  "), "{\n>  \"a\": [\n>    1,\n>    2\n>  ],\n>  \"b\": {}\n>}");
}

TEST(KeyEqualFold, AsciiOnly) {
  EXPECT_TRUE(keyEqualFold("ControlURL", "controlurl"));
  EXPECT_FALSE(keyEqualFold("ControlURL", "ControlUR"));
  EXPECT_FALSE(keyEqualFold("a", "\xc3\xa0"));
}

}  // namespace
}  // namespace tnet::ipn
