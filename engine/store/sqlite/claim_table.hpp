#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

struct sqlite3;

namespace pigeon::engine::sqlite {

// The messages the dispatcher has claimed and not yet marked `submitting` or finished: held in
// memory, not written to the database. The engine lock (engine/ops/engine_lock.hpp) keeps a second
// engine off the file, so only this process claims; a crash loses the claims, and nothing was
// sent from them (a request leaves only after mark_submitting made its intent durable), so the
// rows simply stay in their waiting state (scheduled, deferred, retry) and the next run claims
// them. One durable write per message fewer (issue 17, item 3).
//
// A claim remembers the row as claimed (state, due time, variant): mark_submitting sends only a
// message whose row is unchanged since, so a cancel, pause, opt-out, A/B switch or receipt that
// changed the row meanwhile is honoured as it was when the claim was a row state. A claim has a
// lease like the rows had: once `until` has passed the message may be claimed again (a send task
// lost by a bug does not hold its message for ever).
//
// Transactional with the store: begin() at each BEGIN or SAVEPOINT, commit() after its COMMIT or
// RELEASE, rollback() after its ROLLBACK: a claim taken in a transaction that rolled back is
// forgotten and a claim dropped in one is held again, so memory never disagrees with the rows
// (async_store's group commit: a failing job, or a failing batch commit, undoes its claims too).
//
// Threading: the store's (one thread at a time).
class claim_table {
 public:
  struct claim {
    std::string owner;
    std::int64_t until_ms = 0;  // the lease: held while now <= until
    std::string campaign;
    std::string state;  // the row's when claimed: scheduled, deferred or retry
    std::int64_t due_ms = 0;
    std::string variant;
  };

  // Whether `id` is held at `now_ms` (a claim whose lease ran out is not).
  bool held(std::int64_t id, std::int64_t now_ms) const;
  // The claim on `id`, expired or not; nullptr when none.
  const claim* find(std::int64_t id) const;
  void hold(std::int64_t id, claim c);
  // Forgets the claim on `id`; false when there was none. Should the transaction roll back, the
  // claim is held again, its lease cut to `restore_until_ms` when given (mark_submitting: a
  // message whose intent failed to commit waits a short while for its next claim, not the lease).
  bool drop(std::int64_t id, std::optional<std::int64_t> restore_until_ms = std::nullopt);
  // Forgets every claim of `owner`; returns how many.
  std::size_t drop_owner(const std::string& owner);
  // Forgets every claim; returns how many.
  std::size_t drop_all();
  std::size_t size() const { return claims_.size(); }
  const std::unordered_map<std::int64_t, claim>& all() const { return claims_; }

  void begin() { marks_.push_back(undo_.size()); }
  void commit();
  void rollback();

  // Makes `pigeon_claimed(id, now_ms)` callable in SQL on `db`: 1 while `id` is held at now_ms,
  // else 0. The table must outlive the connection (or the function must be removed first).
  void register_sql_function(sqlite3* db);

 private:
  void remember(std::int64_t id);
  std::size_t drop_if(const std::function<bool(const claim&)>& pred);

  std::unordered_map<std::int64_t, claim> claims_;
  // What each change replaced (nullopt: there was no claim), to undo back to a mark.
  std::vector<std::pair<std::int64_t, std::optional<claim>>> undo_;
  std::vector<std::size_t> marks_;  // undo_.size() at each open transaction level
};

}  // namespace pigeon::engine::sqlite
