#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/model.hpp"
#include "engine/ops_snapshot.hpp"

namespace pigeon::engine {

// A failure of the storage layer (I/O, corruption, a schema newer than this binary, a busy
// database past its timeout). Carries a message meant for a person.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The durable state of pigeon: contacts, campaigns (versioned), the message queue and the send
// ledger. Nothing outside a store implementation writes SQL, so a PostgreSQL store can follow.
//
// Threading: a store object is used by one thread at a time (the CLI's, or async_store's writer
// thread). Every method is atomic: it commits completely or not at all, and throws store_error
// on failure, leaving what was already stored intact. Calls made inside transaction() join that
// transaction (group commit).
class store {
 public:
  virtual ~store() = default;
  store() = default;
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // Runs `body` in one transaction; the store's own methods called inside join it. If `body`
  // throws, the transaction is rolled back and the exception propagates. Nested calls MUST act
  // as savepoints: async_store relies on a failing job undoing only its own work.
  virtual void transaction(const std::function<void()>& body) = 0;

  // --- contacts -------------------------------------------------------------------------------
  // Inserts or updates by phone (E.164). Returns the contacts' ids, parallel to the input.
  virtual std::vector<std::int64_t> upsert_contacts(const std::vector<contact>& contacts) = 0;
  // Calls `fn` for every contact, in id order. The contact passed is valid during that call only
  // (its storage is reused for the next one): copy what must outlive it.
  virtual void for_each_contact(const std::function<void(const contact&)>& fn) = 0;
  virtual std::optional<contact> find_contact(const std::string& phone) = 0;

  // --- campaigns ------------------------------------------------------------------------------
  // Stores a campaign. If the newest stored version has the same content_hash, nothing changes
  // and that version is returned; otherwise a new version (previous + 1) becomes current.
  virtual int save_campaign(const stored_campaign& campaign) = 0;
  // The current version of every campaign (templates omitted), by name.
  virtual std::vector<stored_campaign> list_campaigns() = 0;
  // The current version with templates, or nullopt.
  virtual std::optional<stored_campaign> find_campaign(const std::string& name) = 0;
  // active | paused | cancelled. Cancel also suppresses every unfinished message of the
  // campaign (reason "campaign cancelled"). Returns false when there is no such campaign.
  virtual bool set_campaign_state(const std::string& name, const std::string& state,
                                  time_point now) = 0;
  // Re-apply of a version without some steps: every message of `campaign` still waiting
  // (scheduled, deferred, retry, leased; direct replies aside) whose step is not in `steps`
  // becomes suppressed with `reason`. Returns how many.
  virtual std::size_t suppress_removed_steps(const std::string& campaign,
                                             const std::vector<std::string>& steps,
                                             const std::string& reason, time_point now) = 0;
  // Apply of a cancelled campaign starts it anew: the state becomes active and the messages the
  // cancel suppressed before any attempt are removed, so the apply queues them again (a message
  // ever attempted stays as it is: nothing is sent twice). Returns how many were removed; 0 and
  // nothing changes when the campaign is not cancelled.
  virtual std::size_t restart_cancelled(const std::string& campaign, time_point now) = 0;

  // --- queue ----------------------------------------------------------------------------------
  // Enqueues messages; an existing (campaign, step, contact) is left untouched. Returns how many
  // were new.
  virtual std::size_t enqueue(const std::vector<new_message>& messages) = 0;

  // Claims up to `limit` messages that are due at `now` (scheduled, retry or deferred with
  // due <= now, or leased with an expired lease) for `owner` until `lease_until`, oldest due
  // first, skipping paused and cancelled campaigns. They become `leased`.
  virtual std::vector<claimed_message> claim_due(time_point now, int limit, time_point lease_until,
                                                 const std::string& owner) = 0;

  // Records that each message is about to be submitted: state `submitting`, attempts + 1, and a
  // ledger row. Durable when this returns; only then may the request leave. Only messages still
  // `leased` by a claim, of a campaign still active, are marked: one cancelled, suppressed or
  // finished since its claim is skipped, and one whose campaign was paused goes back to
  // `scheduled`. Returns the ids marked; the caller MUST NOT send any other.
  virtual std::vector<std::int64_t> mark_submitting(const std::vector<submit_intent>& intents) = 0;

  // Applies outcomes. A message already in a final state is never changed.
  virtual void record_outcomes(const std::vector<send_outcome>& outcomes) = 0;

  // After a crash of the previous owner (the caller holds the engine lock): leased messages
  // become claimable at once; messages left `submitting` (outcome unknown) become `retry` due at
  // `now + reconcile_grace`, counted as possible duplicates: the grace leaves time for a
  // delivery receipt to prove the carrier has them (record_receipt), so they are not resent.
  // Returns {leased released, submitting recovered}.
  virtual std::pair<std::size_t, std::size_t> recover_after_crash(
      time_point now, std::chrono::milliseconds reconcile_grace = std::chrono::seconds(30)) = 0;

  // The earliest due time among unfinished, unclaimed messages of active campaigns.
  virtual std::optional<time_point> next_due() = 0;
  // Messages not in a final state and not `submitted` (i.e. still the engine's business).
  virtual std::int64_t count_pending() = 0;

  // --- policy ---------------------------------------------------------------------------------
  // Calls `fn(contact_id, campaign, at)` for each marketing message with an attempt at or after
  // `since` that counts against frequency caps (see engine/store/sqlite_policy.cpp), once per
  // message (its latest attempt). Read-only: `campaign plan` simulates caps with it.
  virtual void for_each_capped_send(
      time_point since,
      const std::function<void(std::int64_t, const std::string&, time_point)>& fn) = 0;

  // Per-variant A/B statistics of a campaign (see variant_stats), by variant name.
  virtual std::vector<variant_stats> ab_stats(const std::string& campaign) = 0;

  // --- A/B decisions and apply pre-checks (engine/store/sqlite_policy.cpp) -------------------
  // Registers the campaign's ab_test (metric, decide_after, min_per_variant, sample percent);
  // while undecided a re-apply updates them, a decided test is kept as it is. An empty metric
  // removes an undecided test (a version without ab_test) and releases the messages it held
  // with their split. `check_by`, when set, brings the
  // test's next check forward to it (apply: when its held messages fall due).
  virtual void register_ab_test(const ab_decision& test, std::optional<time_point> check_by) = 0;
  // Undecided tests of active campaigns whose time has come: their next check is due, or (not
  // checked yet) first send of a step with variants + decide_after <= now. Cheap when there is
  // nothing to decide (the dispatcher calls it before every claim); records the first send of a
  // step with variants as soon as there is one.
  virtual std::vector<ab_decision> ab_tests_due(time_point now) = 0;
  // Records `d` (decided_at set) and, when d.winner is set, moves every message of the campaign
  // not yet attempted (scheduled or deferred, no attempt, not holdout) of a step that has that
  // variant to it; releases the messages held by `sample` (due now, valid until the end of the
  // day after, in whole days from their own validity); in one transaction. Returns how many
  // messages moved; 0 and nothing changes when the test was already decided.
  virtual std::int64_t record_ab_decision(const ab_decision& d) = 0;
  // An undecided check: stores d.reason and d.next_check. Held messages wait until next_check;
  // when no other message of a step with variants is still waiting to go (the sample is spent
  // and the test still cannot decide), they are released with their weighted split instead.
  // Returns how many were released.
  virtual std::int64_t recheck_ab_test(const ab_decision& d, time_point now) = 0;
  // The campaign's registered test (decided or not), or nullopt.
  virtual std::optional<ab_decision> find_ab_test(const std::string& campaign) = 0;
  // Ids of the contacts opted out now (apply enqueues nothing for them).
  virtual std::vector<std::int64_t> opted_out_contacts() = 0;
  // Marks freshly enqueued, never attempted messages of `campaign` as deferred (see
  // apply_deferral). Returns how many changed.
  virtual std::size_t defer_at_apply(const std::string& campaign,
                                     const std::vector<apply_deferral>& deferrals) = 0;

  // --- observation ----------------------------------------------------------------------------
  // The engine `owner` is alive at `now` (real time, even on a simulated clock).
  virtual void heartbeat(const std::string& owner, time_point now) = 0;
  // The engine `owner` stopped cleanly at `now`; status no longer reports it running.
  virtual void engine_stopped(const std::string& owner, time_point now) = 0;
  virtual status_snapshot status(time_point now) = 0;
  virtual std::vector<message_row> messages(const message_filter& filter) = 0;

  // --- webhooks, replies, integrator events (engine/store/sqlite_events.cpp) -----------------
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
  virtual std::vector<reply_row> replies(const reply_filter& filter) = 0;
  // Stores an integrator event. Returns its id.
  virtual std::int64_t record_event(const contact_event& e) = 0;
  // A contact's events named `name` (all when empty) at or after `since`, oldest first.
  virtual std::vector<contact_event> events(std::int64_t contact_id, const std::string& name,
                                            time_point since) = 0;
  // --- lifecycle journeys (engine/store/sqlite_journeys.cpp; logic in engine/journeys.hpp) ----
  // Records that `contact_id` entered `campaign` at `occurrence` (its anchor) at `at` and
  // enqueues `messages` (each with that occurrence), in one transaction. Returns false, storing
  // nothing, when that occurrence was entered before: one occurrence per (campaign, recipient,
  // anchor), whatever re-evaluates it.
  virtual bool enter_journey(const std::string& campaign, std::int64_t contact_id,
                             const std::string& occurrence, time_point at,
                             const std::vector<new_message>& messages) = 0;
  // When the contact last entered `campaign`, or nullopt.
  virtual std::optional<time_point> last_journey_entry(const std::string& campaign,
                                                       std::int64_t contact_id) = 0;
  // `enters` journeys: the ids of the contacts that matched at their last evaluation (sorted),
  // and updates of that flag.
  virtual std::vector<std::int64_t> journey_matching(const std::string& campaign) = 0;
  virtual void set_journey_matching(const std::string& campaign,
                                    const std::vector<std::pair<std::int64_t, bool>>& flags) = 0;
  // A recipient the journey passed over (re-entry blocked, an unreadable date): counted and
  // shown by `campaign show`. A (campaign, contact, reason) already recorded is not repeated.
  virtual void record_journey_exit(const std::string& campaign, std::int64_t contact_id,
                                   const std::string& reason, time_point at) = 0;
  // Sets the rows of these contacts (replacing theirs) and removes the rows of `removed`.
  virtual void set_journey_dates(const std::string& campaign, const std::vector<journey_date>& rows,
                                 const std::vector<std::int64_t>& removed) = 0;
  // The zones of the journey's indexed contacts.
  virtual std::vector<std::string> journey_zones(const std::string& campaign) = 0;
  // Calls `fn` for each contact the query selects (see journey_query), in id order; the contact
  // is valid during the call only.
  virtual void for_each_journey_contact(const journey_query& query,
                                        const std::function<void(const contact&)>& fn) = 0;
  // How far the journey's time-driven evaluation got (nullopt: never ran), and its update.
  virtual std::optional<time_point> journey_clock(const std::string& campaign) = 0;
  virtual void set_journey_clock(const std::string& campaign, time_point through) = 0;
  virtual journey_stats journey_statistics(const std::string& campaign, time_point now) = 0;
  // Contacts by id (missing ids are skipped), in id order.
  virtual std::vector<contact> contacts_by_id(const std::vector<std::int64_t>& ids) = 0;

  // --- operations (engine/ops) ----------------------------------------------------------------
  // A clean stop: `owner`'s leased messages (claimed, never marked submitting) go back to
  // `scheduled` at once. Returns how many.
  virtual std::size_t release_leases(const std::string& owner) = 0;
  // Stores `detail` (JSON text: the lanes' state) with `owner`'s heartbeat, for `status`.
  virtual void heartbeat_detail(const std::string& owner, const std::string& detail) = 0;
  // Throughput, providers, campaign progress and waiting reasons as of `now`.
  virtual ops_snapshot operations(time_point now) = 0;
};

}  // namespace pigeon::engine
