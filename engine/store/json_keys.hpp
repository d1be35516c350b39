#pragma once

// The attribute names in use, read off contacts' stored JSON text (an object of scalars, written
// by columns::object_to_json) without decoding it: shared by the backends' summarize_contacts.

#include <algorithm>
#include <boost/json/parse.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace pigeon::engine::json_keys {

// Calls `fn` with each key of the JSON object `text` (as object_to_json writes them: no
// whitespace needed, values of any kind). Keys with escapes, and text this scan does not
// follow, are decoded by Boost.JSON instead; text that is no JSON object yields nothing (the
// scan of the rows skips and names such a contact). `keys` is scratch space.
template <typename Fn>
void for_each_key(std::string_view text, std::vector<std::string_view>& keys, Fn&& fn) {
  keys.clear();
  if (text.find('\\') == std::string_view::npos && text.starts_with('{')) {
    std::size_t depth = 0, i = 0;
    bool ok = true;
    while (ok && i < text.size()) {
      char c = text[i];
      if (c == '"') {
        auto end = text.find('"', i + 1);
        if (end == std::string_view::npos) break;
        auto next = text.find_first_not_of(" \t\r\n", end + 1);
        if (depth == 1 && next != std::string_view::npos && text[next] == ':')
          keys.push_back(text.substr(i + 1, end - i - 1));
        i = end + 1;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') ok = depth-- > 0;
      ++i;
    }
    if (ok && depth == 0 && i == text.size()) {
      for (auto key : keys) fn(key);
      return;
    }
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return;
  for (const auto& [key, value] : v.get_object()) fn(std::string_view(key));
}

// The distinct names of the objects added.
class name_set {
 public:
  void add_keys_of(std::string_view object_text) {
    for_each_key(object_text, scratch_, [&](std::string_view name) { add(name); });
  }
  void add(std::string_view name) {
    if (!seen_.contains(name)) seen_.emplace(name);
  }
  // Every name, sorted byte-wise.
  std::vector<std::string> sorted() const {
    std::vector<std::string> out(seen_.begin(), seen_.end());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_set<std::string, name_hash, std::equal_to<>> seen_;
  std::vector<std::string_view> scratch_;
};

}  // namespace pigeon::engine::json_keys
