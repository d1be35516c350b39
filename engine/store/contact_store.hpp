#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/store/transactions.hpp"
namespace pigeon::engine {

// Contacts as `contacts import/list/show/export/delete` and apply consume them.
//
// Contract for every backend: tests/store/conformance/contact_test.cpp pins it.
//
// Threading and failure: as transactional_store (engine/store/transactions.hpp).
class contact_store : public virtual transactional_store {
 public:
  // Inserts or updates by phone (E.164). Returns the contacts' ids, parallel to the input.
  virtual std::vector<std::int64_t> upsert_contacts(const std::vector<contact>& contacts) = 0;
  // Calls `fn` for every contact, in id order. The contact passed is valid during that call only
  // (its storage is reused for the next one): copy what must outlive it.
  virtual void for_each_contact(const std::function<void(const contact&)>& fn) = 0;
  virtual std::optional<contact> find_contact(const std::string& phone) = 0;
  // Contacts by id (missing ids are skipped), in id order.
  virtual std::vector<contact> contacts_by_id(const std::vector<std::int64_t>& ids) = 0;
  // An erased contact (erase_contact) stays as a tombstone row so the messages and ledger rows
  // that point at it keep their counts: its phone becomes "erased:<id>" (erased_phone_prefix),
  // everything else about it is cleared, and no scan of contacts (for_each_contact, the count in
  // status, contacts_summary) includes it.
  static constexpr const char* erased_phone_prefix = "erased:";
  struct opt_out_record {
    time_point at{};
    std::string source;  // "manual", "reply: STOP", "carrier: ...", ...
  };
  // When and how the contact opted out, or nullopt when they are subscribed.
  virtual std::optional<opt_out_record> opt_out_state(std::int64_t contact_id) = 0;
  struct contacts_summary {
    std::int64_t count = 0;               // contacts, erased ones aside
    std::vector<std::string> attributes;  // every attribute name in use, sorted byte-wise
  };
  // For exports: the header and the progress total, in one read.
  virtual contacts_summary summarize_contacts() = 0;
  // A message whose outcome is not known yet: erase_contact refuses while one exists.
  struct unsettled_message {
    std::int64_t id = 0;
    std::string campaign, step;
    message_state state = message_state::submitting;
  };
  struct erase_result {
    bool found = false;                      // false: no contact has this phone; nothing changed
    std::vector<unsettled_message> refused;  // non-empty: nothing changed (see erase_contact)
    std::int64_t contact_id = 0;
    std::int64_t suppressed = 0;           // queued messages suppressed ("contact erased")
    std::int64_t scrubbed = 0;             // messages whose text was cleared (every one of theirs)
    std::int64_t replies = 0, events = 0;  // rows deleted
    bool wal_cleared = true;  // false: a reader kept the WAL's old pages (cleared at a later
                              // checkpoint)
  };
  // Erases the person with this phone (E.164), for a privacy request, in one transaction:
  // their replies (by contact or by phone), events and frequency preference are deleted; their
  // messages stay for the counts (status, reports, the send ledger and caps are unchanged) with
  // no text (body and direct text cleared; the phone replaced in reasons and receipt errors);
  // queued ones (scheduled, deferred, retry, leased) become suppressed "contact erased" first (a
  // leased one is then skipped by mark_submitting, so nothing leaves); the contact becomes a
  // tombstone (see erased_phone_prefix). Journeys keep entry and exit rows (counts) without
  // anchors or quoted values; their per-contact dates and membership go. Deleted content is
  // overwritten (secure_delete), and the
  // WAL is checkpointed and truncated afterwards, so the phone leaves the database file's bytes.
  // Refuses, changing nothing, while a message of theirs has an unknown outcome: `submitting`
  // (a request may be on the wire; settled by its answer, or by `serve` after a crash) or
  // `retry` after a crash mid-send (maybe_duplicate: waiting for a receipt or a resend).
  // `submitted` is settled (the carrier took it): a later receipt still finds the message.
  virtual erase_result erase_contact(const std::string& phone, time_point now) = 0;
};

}  // namespace pigeon::engine
