#pragma once

// A provider's rate shared by several engines (nodes) on one database.
//
// Alone, a lane paces itself (token_bucket) and caps its wire (wire_window) at rate + burst in
// any second. With several `pigeon serve` nodes on one PostgreSQL, each lane would do so on its
// own and the carrier would see N times the rate. A lane given a shared budget (lane::share_rate)
// also takes, right before each request, segment tokens from one budget per provider that every
// node draws on:
//
//   - The budget is a token bucket kept by the database (PostgreSQL: a row per provider, updated
//     in one statement on the server's clock): it refills at `rate` up to `capacity` tokens.
//   - A node takes tokens in short slices, for the sends already waiting at its gate, and must
//     spend them within `spend_within` of asking (its own steady clock, from before the request
//     left: no clock of two machines is ever compared). Tokens not spent by then lapse.
//
// The bound: whatever the nodes do, the sends of any one second were taken within that second or
// the spend_within before it, and a token bucket hands out at most capacity + rate * T in any T.
// So the carrier sees at most capacity + rate * (1 s + spend_within) = rate + burst segments in
// any second, the same ceiling a lone lane keeps; budget_terms chooses spend_within and capacity
// so. A send larger than the whole capacity goes alone when the bucket is full, as through the
// wire window.
//
// On SQLite (one engine per file) there is no shared budget: the lane's own bucket is the rate.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace pigeon::engine::dispatch {

// How a rate and burst split into the shared bucket's capacity and the time a slice may be
// spent in: spend_within = min(100 ms, burst / (2 * rate)), capacity = burst - rate *
// spend_within (so capacity + rate * spend_within = burst). rate in segments per second, burst in
// segments as the lane uses them (token_bucket's effective burst).
struct budget_terms {
  double capacity = 0;
  std::chrono::microseconds spend_within{0};
};
budget_terms terms_for(double rate, double burst);

// One take: up to `want` tokens, and none unless at least `need` are there (the send at the head
// of the gate). need > capacity is taken (into debt) once the bucket is full.
struct budget_request {
  std::string provider;
  double rate = 0;   // segments per second, > 0
  double burst = 0;  // the lane's effective burst, > 0
  double need = 0;
  double want = 0;  // >= need
};

struct budget_grant {
  double tokens = 0;  // 0 or >= need
  // With no tokens: when asking again may succeed (the refill time of what was missing).
  std::chrono::microseconds retry_after{0};
};

// The budget's keeper (PostgreSQL: engine/store/postgres/pg_rate_budget.hpp). take() blocks on
// the database: called on a thread of its own (budget_thread), one call at a time. It throws
// store_error when the database cannot be reached; nothing is granted then.
class rate_budget {
 public:
  virtual ~rate_budget() = default;
  virtual budget_grant take(const budget_request& request) = 0;
};

// The pure arithmetic of a take, on a bucket of `tokens` last refilled `elapsed` ago: what is
// granted and what is left. Backends that keep the bucket in memory (tests) use it; the
// PostgreSQL one does the same in SQL.
struct budget_step {
  budget_grant grant;
  double tokens_after = 0;
};
budget_step take_from(double tokens, std::chrono::microseconds elapsed,
                      const budget_request& request);

// Runs a rate_budget's takes on a thread of its own, so lanes (on the dispatcher's executor)
// never wait for the database. Shared by every lane of a node.
class budget_thread {
 public:
  explicit budget_thread(std::unique_ptr<rate_budget> budget);
  ~budget_thread();  // waits for a take in progress
  budget_thread(const budget_thread&) = delete;
  budget_thread& operator=(const budget_thread&) = delete;

  // Resumes on the caller's executor with the grant, or rethrows the budget's failure.
  boost::asio::awaitable<budget_grant> take(budget_request request);

 private:
  std::unique_ptr<rate_budget> budget_;
  boost::asio::thread_pool thread_{1};
};

}  // namespace pigeon::engine::dispatch
