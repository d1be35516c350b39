#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/store/transactions.hpp"
namespace pigeon::engine {

// What arrives from outside, as the webhooks, the reply engine (engine/inbound/replies.cpp) and the
// integrator API consume it: delivery receipts, replies and what they trigger (opt-out/in, tags,
// preferences, direct responses), and integrator events.
//
// Contract for every backend: tests/store/conformance/inbound_test.cpp pins it (the reply
// engine's use of it: tests/inbound/replies_test.cpp).
//
// Threading and failure: as transactional_store (engine/store/transactions.hpp).
class inbound_store : public virtual transactional_store {
 public:
  // Records a delivery receipt (always kept, in `receipts`) and applies it to its message,
  // found by pigeon's id when the receipt carries one, else by (provider, carrier id).
  // Monotonic: final states never change, a submitted message only moves to a final state, and
  // a repeated (provider, carrier id, status) is a duplicate that changes nothing. A message of
  // unknown outcome (submitting, or waiting to be resent: retry/scheduled/deferred/leased) is
  // reconciled: it takes the receipt's state, is stamped reconciled_at and is not resent.
  virtual receipt_effect record_receipt(const receipt& r) = 0;
  // The contact with this phone (E.164), created with no tags when missing. Returns its id.
  virtual std::int64_t ensure_contact(const std::string& phone, time_point now) = 0;
  // Opts the contact out at once: contacts.opted_out_at is set and every queued message of
  // theirs (scheduled, deferred, retry, leased) is suppressed with reason "opted out" in the
  // same transaction. Direct (transactional reply) messages are left alone. Returns how many
  // messages were suppressed. Claims and mark_submitting also suppress an opted-out contact's
  // campaign messages, so a message leased before the opt-out is never sent.
  virtual std::size_t opt_out(std::int64_t contact_id, const std::string& source,
                              time_point now) = 0;
  // Clears an opt-out (START). Returns false when the contact was not opted out.
  virtual bool opt_in(std::int64_t contact_id, time_point now) = 0;
  virtual std::optional<time_point> opted_out_at(std::int64_t contact_id) = 0;
  // The campaign a reply from this contact belongs to (see reply_attribution), or nullopt.
  virtual std::optional<reply_attribution> attribute_reply(std::int64_t contact_id,
                                                           time_point now) = 0;
  // {campaign, sender} of the last message sent to the contact (any campaign), for confirmations
  // when no campaign is attributed; nullopt when nothing was ever sent.
  virtual std::optional<std::pair<std::string, std::string>> last_sender(
      std::int64_t contact_id) = 0;
  // Adds a tag to the contact (no-op when present).
  virtual void add_tag(std::int64_t contact_id, const std::string& tag, time_point now) = 0;
  virtual void set_preference(std::int64_t contact_id, const contact_preference& p,
                              const std::string& source, time_point now) = 0;
  virtual std::optional<contact_preference> preference(std::int64_t contact_id) = 0;
  // Enqueues a direct message (a transactional reply with its own text) for `campaign`'s
  // sender, step "reply:<reply_id>", due at `due`, expiring a day later. Returns its id.
  virtual std::int64_t enqueue_direct(const std::string& campaign, std::int64_t contact_id,
                                      std::int64_t reply_id, const std::string& text,
                                      time_point due) = 0;
  // Stores an inbound message; returns its id, or 0 when (provider, carrier_id) was recorded
  // before (a carrier retrying its callback): the caller then does nothing else.
  virtual std::int64_t record_reply(const reply_row& r) = 0;
  // Sets what a stored reply matched and triggered.
  virtual void update_reply(const reply_row& r) = 0;
  // Stores an integrator event. Returns its id.
  virtual std::int64_t record_event(const contact_event& e) = 0;
  // A contact's events named `name` (all when empty) at or after `since`, oldest first.
  virtual std::vector<contact_event> events(std::int64_t contact_id, const std::string& name,
                                            time_point since) = 0;
};

}  // namespace pigeon::engine
