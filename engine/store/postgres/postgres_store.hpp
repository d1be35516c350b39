#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "engine/store/store.hpp"

namespace pigeon::engine::postgres {

class connection;

// The shared store: one PostgreSQL database that any number of `pigeon serve` nodes and CLI
// commands use at once (docs/ARCHITECTURE.md "Several nodes"). Every method is one transaction
// (or a savepoint inside transaction()), committed with synchronous_commit on: a method that
// returned has reached the server's disk.
//
// Unlike SQLite's one engine per file, several engines share this queue, so what SQLite keeps
// in memory is on the rows here: a claim is a lease (lease_owner, lease_until) taken with
// FOR UPDATE SKIP LOCKED, and a decision that counts a recipient's sends (caps, priority) locks
// that contact's row in the transaction that records the intent, so two nodes racing for one
// recipient decide one after the other.
//
// Threading: one thread at a time (see store); the object may move between threads between
// calls. Each object holds one connection.
//
// Failure: every failure is a store_error naming the database (password masked) and what was
// being done; the transaction is rolled back and nothing stored is lost.
class postgres_store final : public store {
 public:
  // Whether `database` (the engine config's key or --db) names a PostgreSQL database.
  static bool is_url(const std::string& database);
  // Connects to `url` (postgresql://user@host:port/db, or a libpq key=value string) and
  // migrates the schema to this binary's. Throws store_error when the server is unreachable,
  // the database is not a pigeon one (tables but no pigeon schema), or its schema is newer than
  // this binary (an older node must not write a newer schema's rows).
  static std::unique_ptr<postgres_store> open(const std::string& url);
  ~postgres_store() override;

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
  // A claim is a lease on the row: state `leased`, lease_owner, lease_until, taken with
  // FOR UPDATE SKIP LOCKED, so two nodes claiming at once never get the same message. A lease
  // that ran out (its node died or stalled) is claimable again.
  std::vector<claimed_message> claim_due(time_point now, int limit, time_point lease_until,
                                         const std::string& owner) override;
  // Only messages still leased by this object's claimer (the owner of its last claim_due) and
  // unexpired at the intent's time are marked; the `submitting` row keeps lease_owner, so a
  // survivor can tell whose outcomes are unknown. The recipients whose facts the policy reads
  // are locked first (contacts rows, in id order), so two nodes deciding for one recipient do it
  // one after the other. A message whose campaign was paused since its claim goes back to
  // `scheduled`.
  std::vector<std::int64_t> mark_submitting(const std::vector<submit_intent>& intents) override;
  // Final states never change. A `submitted` message accepts only final outcomes (and a repeated
  // `submitted`, e.g. to fill in the carrier id): DLRs never move a message backwards. The
  // latest ledger row is completed even when the message no longer changes. Unknown ids are
  // ignored.
  void record_outcomes(const std::vector<send_outcome>& outcomes) override;
  // Recovers the rows of every owner that is not alive (see node_alive_ms below): lease_owner
  // NULL, or an owner whose engine_heartbeat row is missing, stopped, or older than
  // node_alive_ms of this node's wall clock (heartbeats carry real time, even on a simulated
  // clock). Their leases are claimable at once; their `submitting` rows become `retry` due at
  // now + reconcile_grace, flagged maybe_duplicate, their pending ledger rows `unknown`. A live
  // node's rows are left alone, so a node starting beside others recovers only the dead.
  std::pair<std::size_t, std::size_t> recover_after_crash(
      time_point now,
      std::chrono::milliseconds reconcile_grace = std::chrono::seconds(30)) override;
  // The same for the one named `owner`, alive or not: a survivor recovering a node it found dead,
  // or a restarted node recovering its own earlier self. Returns {leased released, submitting
  // recovered}.
  std::pair<std::size_t, std::size_t> recover_owner(const std::string& owner, time_point now,
                                                    std::chrono::milliseconds reconcile_grace);
  // A node is alive while its latest heartbeat is at most this old (wall clock) and it has not
  // stopped: three missed beats of the dispatcher's 5 s.
  static constexpr std::int64_t node_alive_ms = 15'000;
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
  std::size_t release_leases(const std::string& owner) override;
  void heartbeat_detail(const std::string& owner, const std::string& detail) override;
  ops_snapshot operations(time_point now) override;

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
  report_facts collect_report(const report_query& q) override;

  void mark_sends_simulated() override { simulated_sends_ = true; }

  // Registers this engine as node `name` at `now` (real time): its heartbeat row, marked
  // running. Refused (the reason returned, nothing written) while a node of that name has a
  // heartbeat younger than `live` and has not stopped: "another node named X is running ...
  // (heartbeat Ns ago)". Nodes registering one name at once are serialised (advisory lock).
  std::optional<std::string> register_node(
      const std::string& name, time_point now,
      std::chrono::milliseconds live = std::chrono::milliseconds(node_alive_ms));

  // The database as given, password masked: for messages and `status`.
  const std::string& target() const;
  // The connection, for the node registry and `db copy` (same thread rule as the store).
  postgres::connection& connection() { return *db_; }

 private:
  postgres_store();

  // Runs `body` atomically (transaction, or savepoint when one is open); store_errors are
  // rethrown prefixed with the database and `what`.
  void atomically(const char* what, const std::function<void()>& body);
  void begin(bool nested);
  void commit(bool nested);
  void rollback(bool nested) noexcept;

  // What mark_submitting reads of a message, its campaign head and the head version's policy
  // (engine/store/postgres/policy_facts.cpp).
  struct submit_context {
    std::string state;
    std::string head_state;
    int head_version = 0;
    int attempts = 0;
    std::int64_t contact_id = 0;
    std::string campaign;
    std::string step;
    std::string occurrence;
    std::optional<time_point> expires;
    std::string category;
    int priority = 0;
    cap_rule campaign_cap;
    std::string on_cap;
    std::vector<std::string> stop_on;
    bool opted_out = false;
    bool direct = false;
    std::string lease_owner;  // the node holding the message (leased or submitting)
    std::optional<time_point> lease_until;
  };
  // The contexts of the messages in `id_array` (an array literal, "{1,2}": one round trip for a
  // flush), by id; a missing id has no such message.
  std::unordered_map<std::int64_t, submit_context> read_submit_contexts(
      const std::string& id_array);
  // Send policy inside mark_submitting (policy_facts.cpp): the contact's row is locked first,
  // so the facts are read and the intent recorded with no other node deciding for that contact
  // in between. Returns the outcome when the message must not go now, nullopt when it may.
  std::optional<send_outcome> policy_verdict(const submit_intent& intent,
                                             const submit_context& ctx);
  // As sqlite_store's (inbound.cpp).
  bool suppress_opted_out(std::int64_t message_id, time_point now);
  void save_replies(const std::string& campaign, int version, const reply_config& replies);

  // Recovers the leased and submitting rows matching `owners` (SQL on alias m, its one
  // parameter $1 bound to `param`): recover_after_crash and recover_owner (queue.cpp).
  std::pair<std::size_t, std::size_t> recover_rows(const std::string& owners,
                                                   const std::string& param, time_point now,
                                                   std::chrono::milliseconds reconcile_grace);

  bool simulated_sends_ = false;
  // The owner this object last claimed for (claim_due): mark_submitting marks only messages
  // still leased by it, unexpired. One engine (node) per store object.
  std::string claimer_;
  std::unique_ptr<postgres::connection> db_;
};

}  // namespace pigeon::engine::postgres
