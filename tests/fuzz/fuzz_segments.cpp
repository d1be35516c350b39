// The segment counter: any bytes (valid UTF-8 or not) give a consistent count.
#include <cassert>
#include <cstdint>
#include <numeric>

#include "templates/segments.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto info = pigeon::templates::count_segments(text);
  assert(info.segments >= 1);
  assert(static_cast<int>(info.units.size()) == info.segments || info.units.empty());
  assert(std::accumulate(info.units.begin(), info.units.end(), 0) == info.total_units ||
         info.units.empty());
  // The reusing overload agrees.
  pigeon::templates::segment_info again;
  pigeon::templates::count_segments(text, again);
  assert(again.segments == info.segments && again.total_units == info.total_units);
  return 0;
}
