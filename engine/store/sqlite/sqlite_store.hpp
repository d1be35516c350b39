#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "engine/store/sqlite/claim_table.hpp"
#include "engine/store/store.hpp"

namespace pigeon::engine::sqlite {

class database;
class wal_checkpointer;

// The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a method that
// returned has reached the disk (group commit through transaction() amortises the fsync).
//
// Threading: one thread at a time (see store); the object may move between threads between
// calls (async_store opens it on the caller's thread and uses it on its writer thread). Other
// processes may read concurrently (`pigeon status` while the engine runs); writers wait up to
// 5 s for the lock, then fail with store_error.
//
// Atomicity: each public method runs in its own transaction, or as a savepoint when a
// transaction is already open, and rolls back to it on failure. transaction() called inside
// transaction() is a savepoint too, so a failing nested body undoes only its own work.
//
// Campaign state lives with the campaign, not with a version: a new version (save_campaign
// with a changed content_hash) keeps the current state; the first version takes
// `campaign.state`.
class sqlite_store final : public store {
 public:
  // Whether open() may create a database that is not there yet.
  enum class open_mode {
    create,    // create the file and its parent directories when missing
    existing,  // a missing file is an error: reading commands never create a database
  };
  // Opens (or, with open_mode::create, creates) the database at `path` and migrates it.
  // Throws store_error naming the path when it cannot be opened, does not exist (existing mode:
  // the message starts "no database at PATH"), is not a database or is corrupt, or has a schema
  // newer than this binary.
  static std::unique_ptr<sqlite_store> open(const std::string& path,
                                            open_mode mode = open_mode::create);
  // Opens an existing database, already at this binary's schema, for reading only: a second
  // connection whose reads (status, operations) run beside the writer's transactions instead of
  // queueing behind them (WAL: a reader sees the last commit and never blocks the writer). Its
  // transactions begin deferred; every write method throws store_error. Throws store_error when
  // the file cannot be opened or its schema is not the latest.
  static std::unique_ptr<sqlite_store> open_reader(const std::string& path);
  ~sqlite_store() override;

  void transaction(const std::function<void()>& body) override;

  std::vector<std::int64_t> upsert_contacts(const std::vector<contact>& contacts) override;
  void for_each_contact(const std::function<void(const contact&)>& fn) override;
  std::optional<contact> find_contact(const std::string& phone) override;

  int save_campaign(const stored_campaign& campaign) override;
  std::vector<stored_campaign> list_campaigns() override;
  std::optional<stored_campaign> find_campaign(const std::string& name) override;
  bool set_campaign_state(const std::string& name, const std::string& state,
                          time_point now) override;
  std::size_t suppress_removed_steps(const std::string& campaign,
                                     const std::vector<std::string>& steps,
                                     const std::string& reason, time_point now) override;
  std::size_t restart_cancelled(const std::string& campaign, time_point now) override;

  std::size_t enqueue(const std::vector<new_message>& messages) override;
  std::vector<claimed_message> claim_due(time_point now, int limit, time_point lease_until,
                                         const std::string& owner) override;
  // Only messages not in a final state are marked (a message cancelled after its claim stays
  // suppressed, and gets no ledger row).
  std::vector<std::int64_t> mark_submitting(const std::vector<submit_intent>& intents) override;
  // Final states never change. A `submitted` message accepts only final outcomes (and a repeated
  // `submitted`, e.g. to fill in the carrier id): DLRs never move a message backwards. The
  // latest ledger row is completed even when the message no longer changes. Unknown ids are
  // ignored.
  void record_outcomes(const std::vector<send_outcome>& outcomes) override;
  std::pair<std::size_t, std::size_t> recover_after_crash(
      time_point now,
      std::chrono::milliseconds reconcile_grace = std::chrono::seconds(30)) override;
  std::optional<time_point> next_due() override;
  std::int64_t count_pending() override;

  void for_each_capped_send(
      time_point since,
      const std::function<void(std::int64_t, const std::string&, time_point)>& fn) override;

  std::vector<variant_stats> ab_stats(const std::string& campaign) override;
  void register_ab_test(const ab_decision& test, std::optional<time_point> check_by) override;
  std::vector<ab_decision> ab_tests_due(time_point now) override;
  std::int64_t record_ab_decision(const ab_decision& d) override;
  std::int64_t recheck_ab_test(const ab_decision& d, time_point now) override;
  std::optional<ab_decision> find_ab_test(const std::string& campaign) override;
  std::vector<std::int64_t> opted_out_contacts() override;
  std::size_t defer_at_apply(const std::string& campaign,
                             const std::vector<apply_deferral>& deferrals) override;

  void heartbeat(const std::string& owner, time_point now) override;
  void engine_stopped(const std::string& owner, time_point now) override;
  status_snapshot status(time_point now) override;
  std::vector<message_row> messages(const message_filter& filter) override;
  // In sqlite_ops.cpp.
  std::size_t release_leases(const std::string& owner) override;
  void heartbeat_detail(const std::string& owner, const std::string& detail) override;
  ops_snapshot operations(time_point now) override;

  // sqlite_events.cpp
  receipt_effect record_receipt(const receipt& r) override;
  std::int64_t ensure_contact(const std::string& phone, time_point now) override;
  std::size_t opt_out(std::int64_t contact_id, const std::string& source, time_point now) override;
  bool opt_in(std::int64_t contact_id, time_point now) override;
  std::optional<time_point> opted_out_at(std::int64_t contact_id) override;
  std::optional<reply_attribution> attribute_reply(std::int64_t contact_id,
                                                   time_point now) override;
  std::optional<std::pair<std::string, std::string>> last_sender(std::int64_t contact_id) override;
  void add_tag(std::int64_t contact_id, const std::string& tag, time_point now) override;
  void set_preference(std::int64_t contact_id, const contact_preference& p,
                      const std::string& source, time_point now) override;
  std::optional<contact_preference> preference(std::int64_t contact_id) override;
  std::int64_t enqueue_direct(const std::string& campaign, std::int64_t contact_id,
                              std::int64_t reply_id, const std::string& text,
                              time_point due) override;
  std::int64_t record_reply(const reply_row& r) override;
  void update_reply(const reply_row& r) override;
  std::vector<reply_row> replies(const reply_filter& filter) override;
  std::int64_t record_event(const contact_event& e) override;
  std::vector<contact_event> events(std::int64_t contact_id, const std::string& name,
                                    time_point since) override;
  // sqlite_contacts.cpp
  std::optional<opt_out_record> opt_out_state(std::int64_t contact_id) override;
  contacts_summary summarize_contacts() override;
  erase_result erase_contact(const std::string& phone, time_point now) override;

  std::vector<bool> enter_journeys(const std::string& campaign,
                                   const std::vector<journey_entry>& entries,
                                   time_point at) override;
  std::optional<time_point> last_journey_entry(const std::string& campaign,
                                               std::int64_t contact_id) override;
  std::vector<std::int64_t> journey_matching(const std::string& campaign) override;
  void set_journey_matching(const std::string& campaign,
                            const std::vector<std::pair<std::int64_t, bool>>& flags) override;
  void record_journey_exit(const std::string& campaign, std::int64_t contact_id,
                           const std::string& reason, time_point at) override;
  void set_journey_dates(const std::string& campaign, const std::vector<journey_date>& rows,
                         const std::vector<std::int64_t>& removed) override;
  std::vector<std::string> journey_zones(const std::string& campaign) override;
  void for_each_journey_contact(const journey_query& query,
                                const std::function<void(const contact&)>& fn) override;
  std::optional<time_point> journey_clock(const std::string& campaign) override;
  void set_journey_clock(const std::string& campaign, time_point through) override;
  journey_stats journey_statistics(const std::string& campaign, time_point now) override;
  std::vector<contact> contacts_by_id(const std::vector<std::int64_t>& ids) override;
  // sqlite_report.cpp
  report_facts collect_report(const report_query& q) override;

  const std::string& path() const { return path_; }

  // Moves WAL checkpoints to a background thread with its own connection (see
  // engine/store/sqlite/wal_checkpointer.hpp): for a long-running writer (`serve`), so commits
  // never wait for a checkpoint. Does nothing for a database not in WAL mode (:memory:). Call on
  // the thread that owns the store, before handing it to another; stops when the store is
  // destroyed. Throws store_error when the second connection cannot be opened.
  void checkpoint_in_background();
  // Checkpoints run in the background so far (0 when not enabled).
  std::int64_t background_checkpoints() const;
  void mark_sends_simulated() override { simulated_sends_ = true; }

 private:
  explicit sqlite_store(std::string path);

  // Runs `body` atomically (transaction or savepoint, see above); store_errors are rethrown
  // prefixed with the database path and `what`.
  void atomically(const char* what, const std::function<void()>& body);
  void begin(bool nested);
  void commit(bool nested);
  void rollback(bool nested) noexcept;
  // What mark_submitting reads of a message, its campaign head and the head version's policy, in
  // one statement (engine/store/sqlite/policy_facts.cpp); nullopt when there is no such message.
  struct submit_context {
    std::string state;       // the message's
    std::string head_state;  // the campaign's: active, paused or cancelled
    int head_version = 0;
    int attempts = 0;
    std::int64_t contact_id = 0;
    std::string campaign;
    std::string step;
    std::string occurrence;  // a journey's anchor, '' for broadcasts
    std::optional<time_point> expires;
    std::string category;
    int priority = 0;
    cap_rule campaign_cap;
    std::string on_cap;
    std::vector<std::string> stop_on;
    bool opted_out = false;  // a campaign message (not a direct reply) to an opted-out contact
    bool direct = false;     // a direct message (a response or confirmation): transactional
  };
  std::optional<submit_context> read_submit_context(std::int64_t message_id);
  // Send policy checked inside mark_submitting for a message `leased` by an active campaign:
  // reads the facts (engine/store/sqlite/policy_facts.cpp) and asks policy::decide. Returns the
  // outcome (suppressed, deferred or expired) when the message must not go now, nullopt when it
  // may.
  std::optional<send_outcome> policy_verdict(const submit_intent& intent,
                                             const submit_context& ctx);

  // Suppresses the message if it is a queued campaign message (not a direct reply) whose contact
  // opted out; true when it did (sqlite_events.cpp). The claim and mark_submitting read the
  // opt-out with the message and call this only for those.
  bool suppress_opted_out(std::int64_t message_id, time_point now);
  // Stores a campaign version's replies section (sqlite_events.cpp).
  void save_replies(const std::string& campaign, int version, const reply_config& replies);

  std::string path_;
  bool reader_ = false;           // open_reader(): transactions begin deferred
  bool simulated_sends_ = false;  // mark_sends_simulated()
  // The dispatcher's claims, held in memory (claim_table.hpp); before db_, which calls into it.
  sqlite::claim_table claims_;
  std::unique_ptr<sqlite::database> db_;
  // message id -> rowid of the send_ledger row mark_submitting inserted for its latest attempt,
  // taken by record_outcomes to update that row by rowid. A hint only: record_outcomes checks
  // the row still belongs to the message and falls back to the max(id) lookup, so an entry left
  // by a rolled-back transaction is harmless. Holds at most the messages in flight.
  std::unordered_map<std::int64_t, std::int64_t> pending_ledger_;
  // Declared after db_: stopped (and its hook removed) before the connection closes.
  std::unique_ptr<sqlite::wal_checkpointer> checkpointer_;
};

}  // namespace pigeon::engine::sqlite
