#pragma once
// Internal: grapheme clusters exactly as the oracle's splitter (grapheme-splitter 1.0.4,
// Unicode 10 rules, CR LF split in two) sees them. A UCS-2 cluster is never split across parts.
#include <cstdint>
#include <span>

namespace pigeon::templates::detail {

enum class gb : std::uint8_t {
  cr,
  lf,
  control,
  extend,
  regional_indicator,
  spacing_mark,
  l,
  v,
  t,
  lv,
  lvt,
  other,
  prepend,
  e_base,
  e_modifier,
  zwj,
  glue_after_zwj,
  e_base_gaz
};

gb grapheme_break(char32_t cp);

// `all` is the current cluster's properties followed by the candidate next one (size >= 2).
// True when the candidate starts a new cluster.
bool breaks_before(std::span<const gb> all);

}  // namespace pigeon::templates::detail
