// The template parser and renderer: any text either compiles or throws template_error with a
// position inside the text; a compiled template renders with or without values.
#include <cassert>
#include <cstdint>
#include <string>

#include "templates/template.hpp"

namespace {

struct fixed_values final : pigeon::templates::variables {
  std::optional<std::string_view> find(std::string_view name) const override {
    if (name.size() % 3 == 0) return std::nullopt;  // some variables missing
    return name.size() % 2 ? std::string_view("12.5") : std::string_view("2026-11-11");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto t = pigeon::templates::compiled_template::compile(text);
    std::string out;
    auto missing = t.render(fixed_values{}, out);
    for (const auto& tag : t.tags()) assert(tag.offset < size);
    (void)missing;
  } catch (const pigeon::templates::template_error& e) {
    assert(e.offset() <= size);
    assert(e.line() >= 1 && e.column() >= 1);
  }
  return 0;
}
