#include "templates/grapheme.hpp"

#include <algorithm>
#include <array>

namespace pigeon::templates::detail {
namespace {

struct range {
  char32_t first;
  char32_t last;
  gb prop;
};

constexpr range table[] = {
#include "templates/grapheme_break_table.inc"
};

bool is_any(gb g, std::initializer_list<gb> set) {
  return std::find(set.begin(), set.end(), g) != set.end();
}

// Index of the last element equal to g, or -1.
long last_index(std::span<const gb> all, gb g) {
  for (long i = static_cast<long>(all.size()) - 1; i >= 0; --i) {
    if (all[static_cast<std::size_t>(i)] == g) return i;
  }
  return -1;
}

bool all_equal(std::span<const gb> all, long from, long to, gb g) {
  for (long i = from; i < to; ++i) {
    if (all[static_cast<std::size_t>(i)] != g) return false;
  }
  return true;
}

}  // namespace

gb grapheme_break(char32_t cp) {
  if (cp < 0x300) {
    if (cp == 0x0D) return gb::cr;
    if (cp == 0x0A) return gb::lf;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xAD) return gb::control;
    return gb::other;
  }
  const auto* it = std::upper_bound(std::begin(table), std::end(table), cp,
                                    [](char32_t c, const range& r) { return c < r.first; });
  if (it == std::begin(table)) return gb::other;
  --it;
  return cp <= it->last ? it->prop : gb::other;
}

// A faithful port of grapheme-splitter's shouldBreak(start, mid, end), quirks included.
bool breaks_before(std::span<const gb> all) {
  const long n = static_cast<long>(all.size());
  const gb start = all[0];
  const gb previous = all[static_cast<std::size_t>(n - 2)];
  const gb next = all[static_cast<std::size_t>(n - 1)];

  const long e_mod = last_index(all, gb::e_modifier);
  if (e_mod > 1 && all_equal(all, 1, e_mod, gb::extend) &&
      !is_any(start, {gb::extend, gb::e_base, gb::e_base_gaz})) {
    return true;
  }
  const long ri = last_index(all, gb::regional_indicator);
  if (ri > 0 && all_equal(all, 1, ri, gb::regional_indicator) &&
      !is_any(previous, {gb::prepend, gb::regional_indicator})) {
    return true;
  }
  // GB3 keeps CR LF together, but the oracle then splits "\r\n" into two characters.
  if (previous == gb::cr && next == gb::lf) return true;
  if (is_any(previous, {gb::control, gb::cr, gb::lf})) return true;
  if (is_any(next, {gb::control, gb::cr, gb::lf})) return true;
  if (previous == gb::l && is_any(next, {gb::l, gb::v, gb::lv, gb::lvt})) return false;
  if (is_any(previous, {gb::lv, gb::v}) && is_any(next, {gb::v, gb::t})) return false;
  if (is_any(previous, {gb::lvt, gb::t}) && next == gb::t) return false;
  if (next == gb::extend || next == gb::zwj) return false;
  if (next == gb::spacing_mark) return false;
  if (previous == gb::prepend) return false;

  const long last_extend = last_index(all, gb::extend);
  const long non_extend = last_extend != -1 ? last_extend - 1 : n - 2;
  if (non_extend >= 0 &&
      is_any(all[static_cast<std::size_t>(non_extend)], {gb::e_base, gb::e_base_gaz}) &&
      all_equal(all, non_extend + 1, n - 1, gb::extend) && next == gb::e_modifier) {
    return false;
  }
  if (previous == gb::zwj && is_any(next, {gb::glue_after_zwj, gb::e_base_gaz})) return false;
  // The "mid" of the original is all[1 .. n-1).
  for (long i = 1; i < n - 1; ++i) {
    if (all[static_cast<std::size_t>(i)] == gb::regional_indicator) return true;
  }
  if (previous == gb::regional_indicator && next == gb::regional_indicator) return false;
  return true;
}

}  // namespace pigeon::templates::detail
