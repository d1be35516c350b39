// The contacts CSV reader: any bytes give a result, never a crash, and never a contact that the
// store could not read back (invalid UTF-8, a number JSON cannot hold).
#include <cassert>
#include <cmath>
#include <cstdint>

#include "engine/contacts/contacts_csv.hpp"
#include "templates/utf8.hpp"

namespace {

bool storable(const boost::json::value& v) {
  if (v.is_double()) return std::isfinite(v.get_double());
  if (v.is_string()) return !pigeon::templates::first_invalid_utf8(v.get_string());
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::size_t progress = 0;
  auto r =
      pigeon::engine::contacts::read_contacts_csv(text, "CN", [&](std::size_t n) { progress = n; });
  assert(progress == r.rows);
  if (!r.fatal.empty()) {
    assert(r.contacts.empty() && r.rejected.empty());
    return 0;
  }
  assert(r.contacts.size() + r.rejected.size() == r.rows);
  for (const auto& c : r.contacts) {
    assert(!c.phone.empty() && c.phone[0] == '+');
    assert(!pigeon::templates::first_invalid_utf8(c.tz));
    for (const auto& tag : c.tags) assert(!pigeon::templates::first_invalid_utf8(tag));
    for (const auto& [key, value] : c.attributes) {
      assert(!pigeon::templates::first_invalid_utf8(key));
      assert(storable(value));
    }
  }
  for (const auto& bad : r.rejected) assert(bad.line >= 2 && !bad.reason.empty());
  return 0;
}
