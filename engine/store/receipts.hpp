#pragma once

#include <optional>
#include <string>

#include "engine/model/model.hpp"

// How a delivery receipt applies to its message (inbound_store::record_receipt's rules), the same
// for every backend; each backend finds the message, deduplicates and writes in its own SQL.
namespace pigeon::engine::receipts {

// The states a carrier reports: what record_receipt accepts.
inline bool is_carrier_state(message_state s) {
  return s == message_state::submitted || s == message_state::delivered ||
         s == message_state::undelivered || s == message_state::failed;
}

// The key receipts are deduplicated on, with the provider and the status: the carrier's id, or
// pigeon's id when the carrier sent none.
inline std::string dedupe_key(const receipt& r) {
  return !r.carrier_id.empty() ? r.carrier_id : "id:" + std::to_string(r.message_id);
}

// What `incoming` does to a message in state `current` (nullopt: no such message), handed to a
// carrier before when `ever_submitted` (an attempt made, or flagged maybe_duplicate). A repeated
// receipt (`duplicate`) is the backend's to tell, by its dedupe key.
inline receipt_effect effect_on(std::optional<message_state> current, bool ever_submitted,
                                message_state incoming) {
  if (!current) return receipt_effect::unknown_message;
  if (is_final(*current)) return receipt_effect::stale;
  if (*current == message_state::submitted)
    return incoming == message_state::submitted ? receipt_effect::stale : receipt_effect::applied;
  // submitting, or waiting for a resend after an unknown or transient outcome: the carrier has
  // it, so it must not go again.
  if (*current == message_state::submitting || ever_submitted) return receipt_effect::reconciled;
  return receipt_effect::stale;  // never submitted: nothing a carrier could report on
}

// The reason an applied or reconciled receipt leaves on its message ("" keeps the old one).
inline std::string reason(const receipt& r, receipt_effect effect) {
  std::string out;
  if (!r.error_code.empty() || !r.error_text.empty())
    out = r.status + " " + r.error_code + (r.error_text.empty() ? "" : ": " + r.error_text);
  if (effect == receipt_effect::reconciled)
    out = "reconciled by delivery receipt" + (out.empty() ? "" : " (" + out + ")");
  return out;
}

}  // namespace pigeon::engine::receipts
