// Expected texts are what Go's encoding/json Decoder reports for the same bytes.
#include "services/apid/core/go_json.h"

#include <gtest/gtest.h>

#include <string>

namespace tnet::apid {
namespace {

std::string errorOf(std::string_view text) {
  auto r = scanFirstJsonValue(text);
  return r ? std::string("ok") : r.error().message;
}

TEST(GoJson, AcceptsValuesAndReportsTheirSpan) {
  std::string_view text = "  {\"a\": [1, -2.5e+3, true, null, \"x\\u00e9\\n\"]} trailing";
  auto r = scanFirstJsonValue(text);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, JsonKind::OBJECT);
  EXPECT_EQ(r->begin, 2u);
  EXPECT_EQ(r->end, text.find(" trailing"));
  EXPECT_EQ(errorOf("0"), "ok");
  EXPECT_EQ(errorOf("\"\""), "ok");
  EXPECT_EQ(errorOf("[]"), "ok");
  EXPECT_EQ(errorOf("{}"), "ok");
  EXPECT_EQ(errorOf("[[],{},[{}]]"), "ok");
  EXPECT_EQ(scanFirstJsonValue("123abc")->end, 3u);  // Go: the number ends, the rest is not read
}

TEST(GoJson, EmptyAndTruncatedInputUseGoIoErrors) {
  EXPECT_EQ(errorOf(""), "EOF");
  EXPECT_EQ(errorOf(" \n\t"), "EOF");
  EXPECT_EQ(errorOf("{"), "unexpected EOF");
  EXPECT_EQ(errorOf("{\"a\""), "unexpected EOF");
  EXPECT_EQ(errorOf("{\"a\":"), "unexpected EOF");
  EXPECT_EQ(errorOf("[1,"), "unexpected EOF");
  EXPECT_EQ(errorOf("\"abc"), "unexpected EOF");
  EXPECT_EQ(errorOf("tru"), "unexpected EOF");
  EXPECT_EQ(errorOf("-"), "unexpected EOF");
  EXPECT_EQ(errorOf("1."), "unexpected EOF");
  EXPECT_EQ(errorOf("1e"), "unexpected EOF");
  EXPECT_EQ(errorOf("\"\\u12"), "unexpected EOF");
}

TEST(GoJson, SyntaxErrorsUseGoMessages) {
  EXPECT_EQ(errorOf("x"), "invalid character 'x' looking for beginning of value");
  EXPECT_EQ(errorOf("{x"), "invalid character 'x' looking for beginning of object key string");
  EXPECT_EQ(errorOf("{\"a\":1,}"), "invalid character '}' looking for beginning of object key string");
  EXPECT_EQ(errorOf("{\"a\" 1}"), "invalid character '1' after object key");
  EXPECT_EQ(errorOf("{\"a\":1 \"b\":2}"), "invalid character '\"' after object key:value pair");
  EXPECT_EQ(errorOf("[1 2]"), "invalid character '2' after array element");
  EXPECT_EQ(errorOf("[1,]"), "invalid character ']' looking for beginning of value");
  EXPECT_EQ(errorOf("\"a\x01\""), "invalid character '\\x01' in string literal");
  EXPECT_EQ(errorOf("\"\\q\""), "invalid character 'q' in string escape code");
  EXPECT_EQ(errorOf("\"\\u12g4\""), "invalid character 'g' in \\u hexadecimal character escape");
  EXPECT_EQ(errorOf("-x"), "invalid character 'x' in numeric literal");
  EXPECT_EQ(errorOf("1.x"), "invalid character 'x' after decimal point in numeric literal");
  EXPECT_EQ(errorOf("1ex"), "invalid character 'x' in exponent of numeric literal");
  EXPECT_EQ(errorOf("trUe"), "invalid character 'U' in literal true (expecting 'u')");
  EXPECT_EQ(errorOf("nul1"), "invalid character '1' in literal null (expecting 'l')");
  EXPECT_EQ(errorOf("fals"), "unexpected EOF");
  EXPECT_EQ(errorOf("'"), "invalid character '\\'' looking for beginning of value");
}

TEST(GoJson, NestingBeyondGoLimitFailsWithoutRecursion) {
  std::string ok(10000, '[');
  ok += std::string(10000, ']');
  EXPECT_EQ(errorOf(ok), "ok");
  std::string deep(10001, '[');
  EXPECT_EQ(errorOf(deep), "invalid character '[' exceeded max depth");
  // Far deeper than any stack could recurse: still a clean error.
  std::string veryDeep(5'000'000, '{');
  EXPECT_NE(errorOf(veryDeep), "ok");
}

TEST(GoJson, QuoteCharMatchesGo) {
  EXPECT_EQ(goQuoteChar('a'), "'a'");
  EXPECT_EQ(goQuoteChar('\''), "'\\''");
  EXPECT_EQ(goQuoteChar('"'), "'\"'");
  EXPECT_EQ(goQuoteChar('\n'), "'\\n'");
  EXPECT_EQ(goQuoteChar('\\'), "'\\\\'");
  EXPECT_EQ(goQuoteChar(0x01), "'\\x01'");
  EXPECT_EQ(goQuoteChar(0x7f), "'\\x7f'");
  EXPECT_EQ(goQuoteChar(0x80), "'\\u0080'");
  EXPECT_EQ(goQuoteChar(0xa0), "'\\u00a0'");
  EXPECT_EQ(goQuoteChar(0xe9), "'\xc3\xa9'");  // é, printable: written as UTF-8
}

TEST(GoJson, StructDecodeRejectsNonObjectsLikeGo) {
  EXPECT_TRUE(checkJsonForStruct("{\"WantRunning\":true}", "ipn.MaskedPrefs"));
  EXPECT_TRUE(checkJsonForStruct("null", "ipn.MaskedPrefs"));
  auto arr = checkJsonForStruct("[]", "ipn.MaskedPrefs");
  ASSERT_FALSE(arr);
  EXPECT_EQ(arr.error().message, "json: cannot unmarshal array into Go value of type ipn.MaskedPrefs");
  EXPECT_EQ(checkJsonForStruct("1", "ipn.Prefs").error().message,
            "json: cannot unmarshal number into Go value of type ipn.Prefs");
  EXPECT_EQ(checkJsonForStruct("\"s\"", "ipn.Options").error().message,
            "json: cannot unmarshal string into Go value of type ipn.Options");
  EXPECT_EQ(checkJsonForStruct("true", "ipn.Options").error().message,
            "json: cannot unmarshal bool into Go value of type ipn.Options");
  EXPECT_EQ(checkJsonForStruct("", "ipn.Options").error().message, "EOF");
  EXPECT_EQ(checkJsonForStruct("{", "ipn.Options").error().kind, ErrorKind::INVALID);
}

}  // namespace
}  // namespace tnet::apid
