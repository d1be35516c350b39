#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "templates/segments.hpp"

using namespace pigeon::templates;

namespace {

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(s);
  return out;
}

}  // namespace

TEST_CASE("encodings are named as the CLI prints them") {
  CHECK(to_string(encoding::gsm7) == "GSM-7");
  CHECK(to_string(encoding::ucs2) == "UCS-2");
}

TEST_CASE("empty text is one empty GSM-7 segment") {
  auto info = count_segments("");
  CHECK(info.enc == encoding::gsm7);
  CHECK(info.segments == 1);
  CHECK(info.units == std::vector<int>{0});
  CHECK(info.total_units == 0);
}

TEST_CASE("GSM-7 holds 160 septets in one segment and 153 per part after that") {
  CHECK(count_segments(std::string(160, 'a')).units == std::vector<int>{160});
  CHECK(count_segments(std::string(161, 'a')).units == std::vector<int>{153, 8});
  CHECK(count_segments(std::string(306, 'a')).units == std::vector<int>{153, 153});
  CHECK(count_segments(std::string(307, 'a')).units == std::vector<int>{153, 153, 1});
}

TEST_CASE("extension characters cost two septets and are never split across parts") {
  auto info = count_segments(std::string(80, '{'));
  CHECK(info.enc == encoding::gsm7);
  CHECK(info.units == std::vector<int>{160});
  info = count_segments(std::string(152, 'a') + "€" + std::string(7, 'b'));
  CHECK(info.units == std::vector<int>{152, 9});
  CHECK(info.total_units == 161);
  CHECK(count_segments("\f^{}\\[~]|€").total_units == 20);
}

TEST_CASE("GSM 0x09 is capital C with cedilla as 3GPP says, so small c with cedilla is UCS-2") {
  CHECK(count_segments("Ç").enc == encoding::gsm7);
  auto info = count_segments("ç");
  CHECK(info.enc == encoding::ucs2);
  CHECK(info.non_gsm == std::vector<char32_t>{U'ç'});
}

TEST_CASE("UCS-2 holds 70 code units in one segment and 67 per part after that") {
  CHECK(count_segments(repeat("咖", 70)).units == std::vector<int>{70});
  CHECK(count_segments(repeat("咖", 71)).units == std::vector<int>{67, 4});
  CHECK(count_segments(repeat("咖", 134)).units == std::vector<int>{67, 67});
  CHECK(count_segments(repeat("咖", 135)).units == std::vector<int>{67, 67, 1});
}

TEST_CASE("characters outside the BMP cost two units and a surrogate pair is never split") {
  auto info = count_segments("😀");
  CHECK(info.enc == encoding::ucs2);
  CHECK(info.total_units == 2);
  info = count_segments(std::string(66, 'a') + "😀" + std::string(5, 'b'));
  CHECK(info.units == std::vector<int>{66, 7});
  CHECK(info.non_gsm == std::vector<char32_t>{U'😀'});
}

TEST_CASE("an emoji grapheme cluster stays in one part, as the oracle counts it") {
  const std::string family = "👨\u200D👩\u200D👧";  // 8 UTF-16 units
  auto info = count_segments(std::string(62, 'a') + family + "b");
  CHECK(info.units == std::vector<int>{62, 9});
}

TEST_CASE("the characters that forced UCS-2 are listed once in order") {
  auto info = count_segments("a咖啡咖`b");
  CHECK(info.non_gsm == std::vector<char32_t>{U'咖', U'啡', U'`'});
  CHECK(count_segments("Hello {World} €5").non_gsm.empty());
}

TEST_CASE("invalid UTF-8 counts as U+FFFD replacement characters and forces UCS-2") {
  auto info = count_segments(
      "ab\xFF"
      "c");
  CHECK(info.enc == encoding::ucs2);
  CHECK(info.total_units == 4);
  CHECK(info.non_gsm == std::vector<char32_t>{0xFFFD});
  CHECK(count_segments("\xE0\x80\x80").total_units == 3);  // overlong: three bad bytes
  CHECK(count_segments("\xF0\x9F\x98").total_units == 1);  // truncated: one maximal subpart
  CHECK(count_segments("\xED\xA0\x80").total_units == 3);  // an encoded surrogate
  CHECK(smart_encode("a\xFF") == "a\xEF\xBF\xBD");
}

TEST_CASE("the counter reuses the caller's segment_info") {
  segment_info info;
  count_segments(repeat("咖", 200), info);
  count_segments("hi", info);
  CHECK(info.enc == encoding::gsm7);
  CHECK(info.units == std::vector<int>{2});
  CHECK(info.non_gsm.empty());
}

TEST_CASE("smart encoding maps typographic look-alikes to GSM-7") {
  const std::string s = smart_encode("“Hi” it’s 5 PM — see you…");
  CHECK(s == "\"Hi\" it's 5 PM - see you...");
  // Twilio's table (the oracle) maps NO-BREAK SPACE and the other wide spaces to two spaces.
  CHECK(smart_encode("5\u00A0PM") == "5  PM");
  CHECK(count_segments(s).enc == encoding::gsm7);
  CHECK(smart_encode("咖啡") == "咖啡");
}

TEST_CASE("random bytes never crash the counter and its results stay consistent") {
  std::uint32_t seed = 7;
  segment_info info;
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    seed = seed * 1103515245u + 12345u;
    const auto len = (seed >> 8) % 700;
    for (std::uint32_t j = 0; j < len; ++j) {
      seed = seed * 1103515245u + 12345u;
      s.push_back(static_cast<char>(i % 2 ? (seed >> 16) & 0xFF : 0x60 + ((seed >> 16) % 40)));
    }
    count_segments(s, info);
    int sum = 0;
    const bool gsm = info.enc == encoding::gsm7;
    const int cap = info.segments == 1 ? (gsm ? 160 : 70) : (gsm ? 153 : 67);
    for (int u : info.units) {
      sum += u;
      CHECK(u <= cap);
    }
    CHECK(sum == info.total_units);
    CHECK(info.segments == static_cast<int>(info.units.size()));
    CHECK(count_segments(smart_encode(s)).segments >= 1);
  }
}
