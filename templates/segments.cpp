#include "templates/segments.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "templates/grapheme.hpp"

namespace pigeon::templates {
namespace {

constexpr char32_t replacement = 0xFFFD;

// Septets per ASCII character: 0 = not in GSM-7, 2 = extension table (escape + code).
constexpr std::array<std::uint8_t, 128> ascii_septets = [] {
  std::array<std::uint8_t, 128> t{};
  for (int c = 0x20; c < 0x7F; ++c) t[static_cast<std::size_t>(c)] = 1;
  t['`'] = 0;
  for (unsigned char c : std::string_view("[\\]^{|}~")) t[c] = 2;
  t['\n'] = 1;
  t['\r'] = 1;
  t['\f'] = 2;
  return t;
}();

// Non-ASCII characters of the GSM-7 basic table (1 septet) plus the euro sign (2 septets).
// GSM 0x09 is U+00C7 LATIN CAPITAL LETTER C WITH CEDILLA as 3GPP TS 23.038 says (unicode.org's
// old GSM0338.TXT maps it to U+00E7 small c with cedilla); the oracle follows 3GPP too.
struct gsm_char {
  char32_t cp;
  std::uint8_t septets;
};
constexpr gsm_char non_ascii_gsm[] = {
    {0x00A1, 1}, {0x00A3, 1}, {0x00A4, 1}, {0x00A5, 1}, {0x00A7, 1}, {0x00BF, 1}, {0x00C4, 1},
    {0x00C5, 1}, {0x00C6, 1}, {0x00C7, 1}, {0x00C9, 1}, {0x00D1, 1}, {0x00D6, 1}, {0x00D8, 1},
    {0x00DC, 1}, {0x00DF, 1}, {0x00E0, 1}, {0x00E4, 1}, {0x00E5, 1}, {0x00E6, 1}, {0x00E8, 1},
    {0x00E9, 1}, {0x00EC, 1}, {0x00F1, 1}, {0x00F2, 1}, {0x00F6, 1}, {0x00F8, 1}, {0x00F9, 1},
    {0x00FC, 1}, {0x0393, 1}, {0x0394, 1}, {0x0398, 1}, {0x039B, 1}, {0x039E, 1}, {0x03A0, 1},
    {0x03A3, 1}, {0x03A6, 1}, {0x03A8, 1}, {0x03A9, 1}, {0x20AC, 2},
};

// Septets of every code point below U+0400 (the euro sign is the only GSM-7 character above).
constexpr std::array<std::uint8_t, 0x400> septet_table = [] {
  std::array<std::uint8_t, 0x400> t{};
  for (std::size_t c = 0; c < 0x80; ++c) t[c] = ascii_septets[c];
  for (const auto& g : non_ascii_gsm) {
    if (g.cp < 0x400) t[g.cp] = g.septets;
  }
  return t;
}();

inline int septets_of(char32_t cp) {
  return cp < 0x400 ? septet_table[cp] : (cp == 0x20AC ? 2 : 0);
}

struct smart_entry {
  char32_t cp;
  const char* text;
};
constexpr smart_entry smart_table[] = {
#include "templates/smart_encoding_table.inc"
};

bool is_cont(unsigned char b) { return (b & 0xC0) == 0x80; }

inline char32_t decode(const char*& p, const char* end) {
  const auto b0 = static_cast<unsigned char>(*p++);
  if (b0 < 0x80) return b0;
  int need;
  char32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return replacement;  // stray continuation byte, C0, C1 or F5..FF
  }
  for (int i = 0; i < need; ++i) {
    if (p == end) return replacement;
    const auto b = static_cast<unsigned char>(*p);
    if (i == 0 ? (b < lo || b > hi) : !is_cont(b)) return replacement;  // keep b for next
    cp = (cp << 6) | (b & 0x3F);
    ++p;
  }
  return cp;
}

int utf16_units(char32_t cp) { return cp > 0xFFFF ? 2 : 1; }

// Greedy packing of unsplittable atoms into parts of `cap` units.
struct packer {
  int cap;
  std::vector<int>& units;
  int current = 0;
  void add(int size) {
    if (current + size > cap && current > 0) {
      units.push_back(current);
      current = 0;
    }
    current += size;
  }
  void finish() { units.push_back(current); }
};

void pack_gsm7(std::string_view text, packer& p) {
  const char* it = text.data();
  const char* end = it + text.size();
  while (it < end) p.add(septets_of(decode(it, end)));
}

// UCS-2 atoms are the oracle's grapheme clusters; a cluster too long for one part (pathological
// stacks of combining marks) is split between code points instead, never inside a surrogate pair.
void pack_ucs2(std::string_view text, packer& p) {
  thread_local std::vector<detail::gb> cluster;
  const char* it = text.data();
  const char* end = it + text.size();
  const char* cluster_begin = it;
  int cluster_units = 0;
  cluster.clear();
  auto flush = [&](const char* cluster_end) {
    if (cluster_units <= p.cap) {
      p.add(cluster_units);
      return;
    }
    for (const char* c = cluster_begin; c < cluster_end;) p.add(utf16_units(decode(c, end)));
  };
  while (it < end) {
    const char* at = it;
    const char32_t cp = decode(it, end);
    cluster.push_back(detail::grapheme_break(cp));
    if (cluster.size() > 1 && detail::breaks_before(cluster)) {
      flush(at);
      cluster.erase(cluster.begin(), cluster.end() - 1);
      cluster_begin = at;
      cluster_units = 0;
    }
    cluster_units += utf16_units(cp);
  }
  if (!cluster.empty()) flush(end);
}

}  // namespace

std::string_view to_string(encoding enc) { return enc == encoding::gsm7 ? "GSM-7" : "UCS-2"; }

int gsm7_septets(char32_t cp) { return septets_of(cp); }

char32_t decode_utf8(const char*& p, const char* end) { return decode(p, end); }

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    const char b[] = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 2);
  } else if (cp < 0x10000) {
    const char b[] = {static_cast<char>(0xE0 | (cp >> 12)),
                      static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                      static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 3);
  } else {
    const char b[] = {
        static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
        static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    out.append(b, 4);
  }
}

void count_segments(std::string_view utf8, segment_info& out) {
  out.units.clear();
  out.non_gsm.clear();
  int septets = 0;
  int utf16 = 0;
  std::array<std::uint64_t, 16> seen{};  // 1024-bit filter over cp & 1023, for deduplication
  const char* it = utf8.data();
  const char* end = it + utf8.size();
  while (it < end) {
    const auto b = static_cast<unsigned char>(*it);
    if (b < 0x80 && ascii_septets[b] != 0) {  // fast path
      ++it;
      septets += ascii_septets[b];
      ++utf16;
      continue;
    }
    const char32_t cp = decode(it, end);
    utf16 += utf16_units(cp);
    if (const int s = septets_of(cp); s != 0) {
      septets += s;
      continue;
    }
    auto& word = seen[(cp >> 6) & 15];
    const std::uint64_t bit = std::uint64_t{1} << (cp & 63);
    if ((word & bit) == 0 ||
        std::find(out.non_gsm.begin(), out.non_gsm.end(), cp) == out.non_gsm.end()) {
      word |= bit;
      out.non_gsm.push_back(cp);
    }
  }
  out.enc = out.non_gsm.empty() ? encoding::gsm7 : encoding::ucs2;
  const bool gsm = out.enc == encoding::gsm7;
  out.total_units = gsm ? septets : utf16;
  if (out.total_units <= (gsm ? gsm7_single_units : ucs2_single_units)) {
    out.units.push_back(out.total_units);
  } else {
    packer p{gsm ? gsm7_part_units : ucs2_part_units, out.units};
    if (gsm) {
      pack_gsm7(utf8, p);
    } else {
      pack_ucs2(utf8, p);
    }
    p.finish();
  }
  out.segments = static_cast<int>(out.units.size());
}

segment_info count_segments(std::string_view utf8) {
  segment_info info;
  count_segments(utf8, info);
  return info;
}

void smart_encode(std::string_view utf8, std::string& out) {
  out.reserve(out.size() + utf8.size());
  const char* it = utf8.data();
  const char* end = it + utf8.size();
  while (it < end) {
    const char* at = it;
    const char32_t cp = decode(it, end);
    const auto* e = std::lower_bound(std::begin(smart_table), std::end(smart_table), cp,
                                     [](const smart_entry& s, char32_t c) { return s.cp < c; });
    if (e != std::end(smart_table) && e->cp == cp) {
      out.append(e->text);
    } else if (cp == replacement && !(it - at == 3 && std::memcmp(at, "\xEF\xBF\xBD", 3) == 0)) {
      append_utf8(out, replacement);
    } else {
      out.append(at, static_cast<std::size_t>(it - at));
    }
  }
}

std::string smart_encode(std::string_view utf8) {
  std::string out;
  smart_encode(utf8, out);
  return out;
}

}  // namespace pigeon::templates
