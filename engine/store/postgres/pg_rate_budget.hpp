#pragma once

#include <memory>
#include <set>
#include <string>

#include "engine/dispatch/rate_budget.hpp"

namespace pigeon::engine::postgres {

class connection;

// The shared rate budget of the nodes on one PostgreSQL database (engine/dispatch/rate_budget.hpp
// says what it guarantees): table rate_budgets, one row per provider, a token bucket refilled on
// the server's clock. A take is one UPDATE of that row (autocommit, so its row lock is held for
// the statement only), read back with RETURNING: nodes taking at once queue on the row and each
// sees the bucket the previous one left. Its commits are not waited for on disk
// (synchronous_commit off): a budget lost to a server crash only lets one slice go again.
//
// Threading: one thread at a time (budget_thread's). Holds a connection of its own, not the
// store's, so takes never wait behind the store's commits; a lost connection is opened again at
// the next take.
class postgres_rate_budget final : public dispatch::rate_budget {
 public:
  // Connects to `url` (as postgres_store::open; the schema must already be migrated by the
  // node's store). Throws store_error when the server cannot be reached.
  explicit postgres_rate_budget(std::string url);
  ~postgres_rate_budget() override;

  dispatch::budget_grant take(const dispatch::budget_request& request) override;

 private:
  void connect();

  std::string url_;
  std::unique_ptr<postgres::connection> db_;
  std::set<std::string> rows_;  // providers whose row exists
};

}  // namespace pigeon::engine::postgres
