#pragma once

#include <chrono>
#include <forward_list>
#include <optional>
#include <string>
#include <string_view>

#include "engine/model/model.hpp"
#include "templates/template.hpp"

namespace pigeon::engine::campaign {

// Template variables drawn from a contact: `phone`, every attribute by name (also as
// `contact.<name>`), numbers and booleans as text; for a date attribute `<x>_at`, the derived
// `<x>_years`, `<x>_months` and `<x>_days` counted up to `as_of` (a journey's anchor day: "your
// 3rd anniversary" even when the step goes out a week before); and, in a journey triggered by
// an event, `event.<key>` from the event's properties (`context`: {"anchor", "event"}).
// Not thread-safe; cheap to construct. `context` must outlive it.
class contact_variables final : public templates::variables {
 public:
  explicit contact_variables(const contact& c, const boost::json::object* context = nullptr,
                             std::optional<std::chrono::year_month_day> as_of = std::nullopt)
      : contact_(c), context_(context), as_of_(as_of) {}
  std::optional<std::string_view> find(std::string_view name) const override;

 private:
  std::optional<std::string_view> text_of(const boost::json::value& v) const;
  std::optional<std::string_view> derived(std::string_view name) const;

  const contact& contact_;
  const boost::json::object* context_;
  std::optional<std::chrono::year_month_day> as_of_;
  mutable std::forward_list<std::string> scratch_;  // stable storage for converted values
};

// The full text that goes out: signature prefixed, the opt-out hint appended to marketing SMS.
// Both count toward the length budget, so every length check uses this function.
std::string compose_text(std::string_view signature, std::string_view opt_out_hint,
                         bool marketing_sms, std::string_view rendered);

// A sender's optional smart encoding: replaces `text` with its GSM-7 look-alike form
// (templates::smart_encode) only when that needs fewer segments; otherwise leaves it as written.
void apply_smart_encoding(std::string& text);

}  // namespace pigeon::engine::campaign
