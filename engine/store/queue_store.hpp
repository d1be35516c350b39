#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/store/transactions.hpp"
namespace pigeon::engine {

// The message queue as the dispatcher consumes it: enqueue, claim what is due, record the intent
// before a request leaves and its outcome after, and recover after a crash. Also the engine's
// liveness (heartbeats), which recovery and `status` read.
//
// Contract for every backend (tests/store/conformance/queue_test.cpp pins it; the send policy
// mark_submitting applies: tests/store/conformance/policy_test.cpp):
// - mark_submitting is the durable intent: when it returns, the attempt is on disk; a message it
//   did not return MUST NOT be sent.
// - A message in a final state never changes; an outcome never lands on another attempt's row.
// - After a crash, what was claimed is claimable again at once; what was submitting is resent
//   only after reconcile_grace, flagged as a possible duplicate.
//
// Threading and failure: as transactional_store (engine/store/transactions.hpp).
class queue_store : public virtual transactional_store {
 public:
  // Enqueues messages; an existing (campaign, step, contact) is left untouched. Returns how many
  // were new.
  virtual std::size_t enqueue(const std::vector<new_message>& messages) = 0;
  // Claims up to `limit` messages that are due at `now` (scheduled, retry or deferred with
  // due <= now, and not held by an unexpired claim) for `owner` until `lease_until`, oldest due
  // first, skipping paused and cancelled campaigns. A message held by a claim is not claimed
  // again until the lease ends. How a claim is held is the backend's: SQLite keeps it in memory
  // (one engine per file; a crash after a claim loses nothing and sends nothing); a backend
  // shared by several engines MUST make it visible to them (a lease on the row).
  virtual std::vector<claimed_message> claim_due(time_point now, int limit, time_point lease_until,
                                                 const std::string& owner) = 0;
  // Records that each message is about to be submitted: state `submitting`, attempts + 1, and a
  // ledger row. Durable when this returns; only then may the request leave. Only messages still
  // held by a claim and unchanged since, of a campaign still active, are marked: one cancelled,
  // suppressed, opted out, switched or finished since its claim is skipped, and one whose
  // campaign was paused is left waiting. Marking ends the claim. Returns the ids marked; the
  // caller MUST NOT send any other.
  virtual std::vector<std::int64_t> mark_submitting(const std::vector<submit_intent>& intents) = 0;
  // Applies outcomes. A message already in a final state is never changed.
  virtual void record_outcomes(const std::vector<send_outcome>& outcomes) = 0;
  // After a crash of the previous owner (the caller holds the engine lock): its claims are
  // claimable at once (rows an older pigeon left `leased` included); messages left `submitting`
  // (outcome unknown) become `retry` due at `now + reconcile_grace`, counted as possible
  // duplicates: the grace leaves time for a delivery receipt to prove the carrier has them
  // (record_receipt), so they are not resent. Returns {leased released, submitting recovered}.
  virtual std::pair<std::size_t, std::size_t> recover_after_crash(
      time_point now, std::chrono::milliseconds reconcile_grace = std::chrono::seconds(30)) = 0;
  // The earliest due time among unfinished, unclaimed messages of active campaigns.
  virtual std::optional<time_point> next_due() = 0;
  // Messages not in a final state and not `submitted` (i.e. still the engine's business).
  virtual std::int64_t count_pending() = 0;
  // A clean stop: `owner`'s claims (never marked submitting) are released, their messages
  // claimable at once. Returns how many.
  virtual std::size_t release_leases(const std::string& owner) = 0;
  // Marks every later attempt recorded through this store object as made on a simulated clock
  // (`serve --clock sim:`, a rehearsal): the ledger keeps them (caps and the campaign's figures
  // count them) but the live rates of report_store::operations leave them out, as their times
  // are not real ones.
  virtual void mark_sends_simulated() = 0;
  // The engine `owner` is alive at `now` (real time, even on a simulated clock).
  virtual void heartbeat(const std::string& owner, time_point now) = 0;
  // Stores `detail` (JSON text: the lanes' state) with `owner`'s heartbeat, for `status`.
  virtual void heartbeat_detail(const std::string& owner, const std::string& detail) = 0;
  // The engine `owner` stopped cleanly at `now`; status no longer reports it running.
  virtual void engine_stopped(const std::string& owner, time_point now) = 0;
};

}  // namespace pigeon::engine
