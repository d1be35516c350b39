#pragma once
// GSM-7 / UCS-2 encoding choice and SMS segment counting (3GPP TS 23.038 / 23.040), agreeing
// with Twilio's public calculator (npm sms-segments-calculator). See docs/ENCODING.md.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pigeon::templates {

enum class encoding { gsm7, ucs2 };

// "GSM-7" / "UCS-2".
std::string_view to_string(encoding enc);

inline constexpr int gsm7_single_units = 160;  // septets in a lone segment
inline constexpr int gsm7_part_units = 153;    // septets per part of a concatenated message
inline constexpr int ucs2_single_units = 70;   // UTF-16 code units in a lone segment
inline constexpr int ucs2_part_units = 67;     // UTF-16 code units per concatenated part

struct segment_info {
  encoding enc = encoding::gsm7;
  int segments = 1;               // never 0: empty text is one empty segment (as the oracle says)
  std::vector<int> units;         // per segment: septets (GSM-7) or UTF-16 code units (UCS-2)
  int total_units = 0;            // sum of units
  std::vector<char32_t> non_gsm;  // the characters that forced UCS-2, in order, no duplicates
};

// Counts the segments of UTF-8 text. Invalid UTF-8 is never dropped: each maximal invalid
// subsequence counts as one U+FFFD REPLACEMENT CHARACTER (which forces UCS-2 and is listed in
// non_gsm), exactly as a WHATWG/JavaScript UTF-8 decoder would see it.
segment_info count_segments(std::string_view utf8);
// The same, reusing `out`'s vectors (no allocation once their capacity suffices).
void count_segments(std::string_view utf8, segment_info& out);

// Septets a code point costs in GSM-7: 1 (basic table), 2 (extension table), 0 (not GSM-7).
int gsm7_septets(char32_t cp);

// Optional smart encoding: maps curly quotes, dashes, ellipsis, NBSP and similar to GSM-7
// look-alikes (Twilio's Smart Encoding table); returns the replaced text. The caller uses it
// only when it is cheaper. Invalid UTF-8 becomes U+FFFD.
std::string smart_encode(std::string_view utf8);
// The same, appending to `out`.
void smart_encode(std::string_view utf8, std::string& out);

// Decodes one code point from [p, end), advancing p; invalid input yields U+FFFD and advances
// past the maximal invalid subpart (at least one byte). Requires p < end.
char32_t decode_utf8(const char*& p, const char* end);
// Appends the UTF-8 encoding of cp.
void append_utf8(std::string& out, char32_t cp);

}  // namespace pigeon::templates
