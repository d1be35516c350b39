#include "engine/campaign/compose.hpp"

#include <boost/json/serialize.hpp>
#include <cctype>

#include "engine/campaign/calendar.hpp"
#include "templates/segments.hpp"

namespace pigeon::engine::campaign {

std::optional<std::string_view> contact_variables::text_of(const boost::json::value& v) const {
  if (v.is_string()) return std::string_view(v.get_string());
  if (v.is_null()) return std::nullopt;
  scratch_.push_front(boost::json::serialize(v));
  return std::string_view(scratch_.front());
}

std::optional<std::string_view> contact_variables::derived(std::string_view name) const {
  static constexpr std::string_view suffixes[] = {"_years", "_months", "_days"};
  for (std::size_t k = 0; k < 3; ++k) {
    if (!name.ends_with(suffixes[k])) continue;
    std::string attr(name.substr(0, name.size() - suffixes[k].size()));
    attr += "_at";
    auto it = contact_.attributes.find(attr);
    if (it == contact_.attributes.end() || !it->value().is_string()) return std::nullopt;
    auto from = attribute_day(it->value().get_string(), contact_.tz.empty() ? "UTC" : contact_.tz);
    if (!from) return std::nullopt;
    auto to = as_of_ ? *as_of_
                     : std::chrono::year_month_day{
                           std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())};
    long long n = 0;
    if (k == 2) {
      n = (std::chrono::sys_days{to} - std::chrono::sys_days{*from}).count();
    } else {
      n = whole_months(*from, to);
      if (k == 0) n /= 12;
    }
    scratch_.push_front(std::to_string(n));
    return std::string_view(scratch_.front());
  }
  return std::nullopt;
}

std::optional<std::string_view> contact_variables::find(std::string_view name) const {
  if (name == "phone") return std::string_view(contact_.phone);
  if (context_ && name.starts_with("event.")) {
    auto* event = context_->if_contains("event");
    if (!event || !event->is_object()) return std::nullopt;
    auto* v = event->get_object().if_contains(name.substr(6));
    return v ? text_of(*v) : std::nullopt;
  }
  if (name.rfind("contact.", 0) == 0) name.remove_prefix(8);
  auto it = contact_.attributes.find(name);
  if (it == contact_.attributes.end()) return derived(name);
  return text_of(it->value());
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

}  // namespace pigeon::engine::campaign
