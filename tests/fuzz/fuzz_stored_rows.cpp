// Stored-row decoding: whatever bytes a damaged database (or an older binary) left in a JSON
// column, the decoders give a value or a store_error, never a crash; and what the writers accept
// (`unstorable` says nothing) always reads back as it was written.
#include <cassert>
#include <cstdint>

#include "engine/store.hpp"
#include "engine/store/rows.hpp"
#include "templates/utf8.hpp"

namespace sqlite = pigeon::engine::sqlite;
using pigeon::engine::store_error;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto attributes = sqlite::json_to_object(text, "attributes");
    if (!sqlite::unstorable(attributes)) {
      auto again = sqlite::json_to_object(sqlite::object_to_json(attributes), "attributes");
      assert(again == attributes);
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
