// Stored-row decoding: whatever bytes a damaged database (or an older binary) left in a JSON
// column, the decoders give a value or a store_error, never a crash; and what the writers accept
// (`unstorable` says nothing) always reads back as it was written.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>

#include "engine/store/sqlite/rows.hpp"
#include "engine/store/store.hpp"
#include "templates/utf8.hpp"

namespace sqlite = pigeon::engine::sqlite;
using pigeon::engine::store_error;

namespace {

// Equal, but for doubles within a relative 1e-14: Boost.JSON 1.81 parses long numbers without
// correct rounding, so a written double may read back one unit in the last place away.
bool same(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_double() && b.is_double()) {
    double x = a.get_double(), y = b.get_double();
    return x == y || std::fabs(x - y) <= 1e-14 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.is_object() && b.is_object()) {
    const auto &p = a.get_object(), &q = b.get_object();
    if (p.size() != q.size()) return false;
    for (const auto& [k, v] : p) {
      auto* w = q.if_contains(k);
      if (!w || !same(v, *w)) return false;
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    const auto &p = a.get_array(), &q = b.get_array();
    if (p.size() != q.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (!same(p[i], q[i])) return false;
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto attributes = sqlite::json_to_object(text, "attributes");
    if (!sqlite::unstorable(attributes)) {
      auto again = sqlite::json_to_object(sqlite::object_to_json(attributes), "attributes");
      assert(same(again, attributes));
    }
  } catch (const store_error&) {
  }
  try {
    auto tags = sqlite::json_to_strings(text, "tags");
    bool valid = true;
    for (const auto& t : tags) valid = valid && !pigeon::templates::first_invalid_utf8(t);
    if (valid) {
      auto again = sqlite::json_to_strings(sqlite::strings_to_json(tags), "tags");
      assert(again == tags);
    }
  } catch (const store_error&) {
  }
  try {
    (void)sqlite::read_state(std::string(text));
  } catch (const store_error&) {
  }
  return 0;
}
