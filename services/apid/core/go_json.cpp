#include "services/apid/core/go_json.h"

#include <cstdio>
#include <vector>

#include "services/apid/core/limits.h"

namespace tnet::apid {
namespace {

bool isSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
bool isDigit(unsigned char c) {
  return c >= '0' && c <= '9';
}
bool isHex(unsigned char c) {
  return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

Error syntaxError(unsigned char c, std::string_view context) {
  return Error::invalid("invalid character " + goQuoteChar(c) + " " + std::string(context));
}

Error unexpectedEof() {
  return Error::invalid("unexpected EOF");
}

// Where the scanner stands inside its innermost container, as Go's parseState values.
enum class Frame : char { OBJECT_KEY, OBJECT_VALUE, ARRAY_VALUE };

class Scanner {
 public:
  explicit Scanner(std::string_view text) : s_(text) {}

  Result<JsonValueSpan> run() {
    skipSpace();
    if (pos_ == s_.size()) return Error::invalid("EOF");
    JsonValueSpan span{kindOf(uc(pos_)), pos_, 0};
    // A loop over token boundaries with an explicit stack: nesting never recurses.
    TNET_TRY(Step step, value());
    while (!(step == Step::HAVE_VALUE && stack_.empty())) {
      if (step == Step::WANT_VALUE) {
        skipSpace();
        TNET_TRY(Step next, value());
        step = next;
      } else {
        TNET_TRY(Step next, afterValueInContainer());
        step = next;
      }
    }
    span.end = pos_;
    return span;
  }

 private:
  enum class Step { WANT_VALUE, HAVE_VALUE };

  unsigned char uc(size_t i) const { return static_cast<unsigned char>(s_[i]); }

  static JsonKind kindOf(unsigned char c) {
    switch (c) {
      case '{':
        return JsonKind::OBJECT;
      case '[':
        return JsonKind::ARRAY;
      case '"':
        return JsonKind::STRING;
      case 't':
      case 'f':
        return JsonKind::BOOL;
      case 'n':
        return JsonKind::NUL;
      default:
        return JsonKind::NUMBER;
    }
  }

  Result<void> push(Frame f, unsigned char c) {
    stack_.push_back(f);
    if (stack_.size() > MAX_JSON_DEPTH) return syntaxError(c, "exceeded max depth");
    return {};
  }

  // At the first byte of a value (whitespace skipped): a scalar is consumed whole; a container
  // is opened (and closed again when empty).
  Result<Step> value() {
    if (pos_ == s_.size()) return unexpectedEof();
    unsigned char c = uc(pos_);
    switch (c) {
      case '{': {
        TNET_TRY_VOID(push(Frame::OBJECT_KEY, c));
        ++pos_;
        skipSpace();
        if (pos_ == s_.size()) return unexpectedEof();
        if (uc(pos_) == '}') {
          ++pos_;
          stack_.pop_back();
          return Step::HAVE_VALUE;
        }
        TNET_TRY_VOID(key());
        return Step::WANT_VALUE;
      }
      case '[': {
        TNET_TRY_VOID(push(Frame::ARRAY_VALUE, c));
        ++pos_;
        skipSpace();
        if (pos_ == s_.size()) return unexpectedEof();
        if (uc(pos_) == ']') {
          ++pos_;
          stack_.pop_back();
          return Step::HAVE_VALUE;
        }
        return Step::WANT_VALUE;
      }
      case '"':
        TNET_TRY_VOID(string());
        return Step::HAVE_VALUE;
      case 't':
        TNET_TRY_VOID(literal("true"));
        return Step::HAVE_VALUE;
      case 'f':
        TNET_TRY_VOID(literal("false"));
        return Step::HAVE_VALUE;
      case 'n':
        TNET_TRY_VOID(literal("null"));
        return Step::HAVE_VALUE;
      default:
        if (c == '-' || isDigit(c)) {
          TNET_TRY_VOID(number());
          return Step::HAVE_VALUE;
        }
        return syntaxError(c, "looking for beginning of value");
    }
  }

  // At an object key (whitespace skipped): the key string and its colon.
  Result<void> key() {
    if (pos_ == s_.size()) return unexpectedEof();
    if (uc(pos_) != '"') return syntaxError(uc(pos_), "looking for beginning of object key string");
    TNET_TRY_VOID(string());
    skipSpace();
    if (pos_ == s_.size()) return unexpectedEof();
    if (uc(pos_) != ':') return syntaxError(uc(pos_), "after object key");
    ++pos_;
    stack_.back() = Frame::OBJECT_VALUE;
    return {};
  }

  // After a complete value inside the innermost container: a separator or the closing bracket.
  Result<Step> afterValueInContainer() {
    skipSpace();
    if (pos_ == s_.size()) return unexpectedEof();
    unsigned char c = uc(pos_);
    if (stack_.back() == Frame::OBJECT_VALUE) {
      if (c == ',') {
        ++pos_;
        stack_.back() = Frame::OBJECT_KEY;
        skipSpace();
        TNET_TRY_VOID(key());
        return Step::WANT_VALUE;
      }
      if (c == '}') {
        ++pos_;
        stack_.pop_back();
        return Step::HAVE_VALUE;
      }
      return syntaxError(c, "after object key:value pair");
    }
    if (c == ',') {
      ++pos_;
      return Step::WANT_VALUE;
    }
    if (c == ']') {
      ++pos_;
      stack_.pop_back();
      return Step::HAVE_VALUE;
    }
    return syntaxError(c, "after array element");
  }

  Result<void> string() {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      unsigned char c = uc(pos_);
      if (c == '"') {
        ++pos_;
        return {};
      }
      if (c < 0x20) return syntaxError(c, "in string literal");
      if (c == '\\') {
        ++pos_;
        if (pos_ == s_.size()) return unexpectedEof();
        unsigned char e = uc(pos_);
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            ++pos_;
            if (pos_ == s_.size()) return unexpectedEof();
            if (!isHex(uc(pos_))) return syntaxError(uc(pos_), "in \\u hexadecimal character escape");
          }
        } else if (e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't' && e != '\\' && e != '/' &&
                   e != '"') {
          return syntaxError(e, "in string escape code");
        }
      }
      ++pos_;
    }
    return unexpectedEof();
  }

  // A number ends at the first byte that cannot continue it; the caller judges that byte, as
  // Go's scanner hands it to stateEndValue. At the end of input a complete number is fine.
  Result<void> number() {
    if (uc(pos_) == '-') {
      ++pos_;
      if (pos_ == s_.size()) return unexpectedEof();
      if (!isDigit(uc(pos_))) return syntaxError(uc(pos_), "in numeric literal");
    }
    if (uc(pos_) == '0') {
      ++pos_;
    } else {
      while (pos_ < s_.size() && isDigit(uc(pos_))) ++pos_;
    }
    if (pos_ < s_.size() && uc(pos_) == '.') {
      ++pos_;
      if (pos_ == s_.size()) return unexpectedEof();
      if (!isDigit(uc(pos_))) return syntaxError(uc(pos_), "after decimal point in numeric literal");
      while (pos_ < s_.size() && isDigit(uc(pos_))) ++pos_;
    }
    if (pos_ < s_.size() && (uc(pos_) == 'e' || uc(pos_) == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (uc(pos_) == '+' || uc(pos_) == '-')) ++pos_;
      if (pos_ == s_.size()) return unexpectedEof();
      if (!isDigit(uc(pos_))) return syntaxError(uc(pos_), "in exponent of numeric literal");
      while (pos_ < s_.size() && isDigit(uc(pos_))) ++pos_;
    }
    return {};
  }

  Result<void> literal(std::string_view word) {
    for (size_t k = 0; k < word.size(); ++k, ++pos_) {
      if (pos_ == s_.size()) return unexpectedEof();
      if (uc(pos_) != static_cast<unsigned char>(word[k])) {
        std::string ctx = "in literal " + std::string(word) + " (expecting " +
                          goQuoteChar(static_cast<unsigned char>(word[k])) + ")";
        return syntaxError(uc(pos_), ctx);
      }
    }
    return {};
  }

  void skipSpace() {
    while (pos_ < s_.size() && isSpace(uc(pos_))) ++pos_;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::vector<Frame> stack_;
};

// Go's strconv.IsPrint for runes below U+0100 (what string(byte) yields in quoteChar).
bool goIsPrintLatin1(unsigned c) {
  if (c < 0x20 || c == 0x7f) return false;
  if (c >= 0x80 && c <= 0xa0) return false;
  if (c == 0xad) return false;
  return true;
}

}  // namespace

std::string goQuoteChar(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  // strconv.Quote(string(c)) without its double quotes; string(byte) is the rune U+00XX.
  std::string inner;
  switch (c) {
    case '\a':
      inner = "\\a";
      break;
    case '\b':
      inner = "\\b";
      break;
    case '\f':
      inner = "\\f";
      break;
    case '\n':
      inner = "\\n";
      break;
    case '\r':
      inner = "\\r";
      break;
    case '\t':
      inner = "\\t";
      break;
    case '\v':
      inner = "\\v";
      break;
    case '\\':
      inner = "\\\\";
      break;
    default: {
      char buf[8];
      if (goIsPrintLatin1(c)) {
        if (c < 0x80) {
          inner.assign(1, static_cast<char>(c));
        } else {  // UTF-8 of U+0080..U+00FF
          inner.push_back(static_cast<char>(0xc0 | (c >> 6)));
          inner.push_back(static_cast<char>(0x80 | (c & 0x3f)));
        }
      } else if (c < 0x80) {
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        inner = buf;
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        inner = buf;
      }
    }
  }
  return "'" + inner + "'";
}

Result<JsonValueSpan> scanFirstJsonValue(std::string_view text) {
  return Scanner(text).run();
}

Result<void> checkJsonForStruct(std::string_view text, std::string_view goType) {
  TNET_TRY(JsonValueSpan span, scanFirstJsonValue(text));
  const char* got = nullptr;
  switch (span.kind) {
    case JsonKind::OBJECT:
    case JsonKind::NUL:  // Go leaves the struct untouched for null
      return {};
    case JsonKind::ARRAY:
      got = "array";
      break;
    case JsonKind::STRING:
      got = "string";
      break;
    case JsonKind::NUMBER:
      got = "number";
      break;
    case JsonKind::BOOL:
      got = "bool";
      break;
  }
  return Error::invalid(std::string("json: cannot unmarshal ") + got + " into Go value of type " +
                        std::string(goType));
}

}  // namespace tnet::apid
