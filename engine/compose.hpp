#pragma once

#include <forward_list>
#include <optional>
#include <string>
#include <string_view>

#include "engine/model.hpp"
#include "templates/template.hpp"

namespace pigeon::engine {

// Template variables drawn from a contact: `phone`, every attribute by name (also as
// `contact.<name>`), numbers and booleans as text. Not thread-safe; cheap to construct.
class contact_variables final : public templates::variables {
 public:
  explicit contact_variables(const contact& c) : contact_(c) {}
  std::optional<std::string_view> find(std::string_view name) const override;

 private:
  const contact& contact_;
  mutable std::forward_list<std::string> scratch_;  // stable storage for converted values
};

// The full text that goes out: signature prefixed, the opt-out hint appended to marketing SMS.
// Both count toward the length budget, so every length check uses this function.
std::string compose_text(std::string_view signature, std::string_view opt_out_hint,
                         bool marketing_sms, std::string_view rendered);

// A sender's optional smart encoding: replaces `text` with its GSM-7 look-alike form
// (templates::smart_encode) only when that needs fewer segments; otherwise leaves it as written.
void apply_smart_encoding(std::string& text);

}  // namespace pigeon::engine
