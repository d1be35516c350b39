#include "engine/compose.hpp"

#include <boost/json/serialize.hpp>
#include <cctype>

#include "templates/segments.hpp"

namespace pigeon::engine {

std::optional<std::string_view> contact_variables::find(std::string_view name) const {
  if (name == "phone") return std::string_view(contact_.phone);
  if (name.rfind("contact.", 0) == 0) name.remove_prefix(8);
  auto it = contact_.attributes.find(name);
  if (it == contact_.attributes.end()) return std::nullopt;
  const auto& v = it->value();
  if (v.is_string()) return std::string_view(v.get_string());
  if (v.is_null()) return std::nullopt;
  scratch_.push_front(boost::json::serialize(v));
  return std::string_view(scratch_.front());
}

std::string compose_text(std::string_view signature, std::string_view opt_out_hint,
                         bool marketing_sms, std::string_view rendered) {
  std::string out;
  out.reserve(signature.size() + rendered.size() + opt_out_hint.size() + 1);
  out.append(signature);
  out.append(rendered);
  if (marketing_sms && !opt_out_hint.empty()) {
    // Latin text reads "... Reply STOP to opt out"; CJK text runs on without a space.
    auto ascii = [](char c) { return static_cast<unsigned char>(c) < 0x80; };
    if (!out.empty() && ascii(out.back()) &&
        !std::isspace(static_cast<unsigned char>(out.back())) && ascii(opt_out_hint.front()))
      out.push_back(' ');
    out.append(opt_out_hint);
  }
  return out;
}

void apply_smart_encoding(std::string& text) {
  auto mapped = templates::smart_encode(text);
  if (mapped == text) return;
  if (templates::count_segments(mapped).segments < templates::count_segments(text).segments)
    text = std::move(mapped);
}

}  // namespace pigeon::engine
