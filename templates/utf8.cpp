#include "templates/utf8.hpp"

#include "templates/segments.hpp"

namespace pigeon::templates {

std::optional<std::size_t> first_invalid_utf8(std::string_view text) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  for (const char* p = begin; p < end;) {
    if (static_cast<unsigned char>(*p) < 0x80) {  // ASCII: always valid
      ++p;
      continue;
    }
    const char* start = p;
    // decode_utf8 yields U+FFFD for an invalid subpart; a real U+FFFD takes exactly 3 bytes.
    if (decode_utf8(p, end) == U'\uFFFD' &&
        !(p - start == 3 &&
          text.substr(static_cast<std::size_t>(start - begin), 3) == "\xEF\xBF\xBD"))
      return static_cast<std::size_t>(start - begin);
  }
  return std::nullopt;
}

}  // namespace pigeon::templates
