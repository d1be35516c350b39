// The shared rate of several nodes on one PostgreSQL: each "node" below is a lane with a budget
// of its own connection, as each `pigeon serve` holds one
// (engine/store/postgres/pg_rate_budget.hpp).
#include "engine/store/postgres/pg_rate_budget.hpp"

#include <doctest/doctest.h>

#include <thread>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "tests/engine/dispatch/shared_rate.hpp"
#include "tests/store/pg_cluster.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::dispatch;
using namespace pigeon::engine::postgres;
using namespace pigeon::engine::test;
using namespace std::chrono_literals;

namespace {
std::shared_ptr<budget_thread> node_budget(const std::string& conninfo) {
  return std::make_shared<budget_thread>(std::make_unique<postgres_rate_budget>(conninfo));
}
}  // namespace

TEST_CASE(
    "two nodes taking slices of one provider's rate from PostgreSQL stay under rate + burst") {
  const auto conninfo = pg_cluster::shared().create_database();
  postgres_store::open(conninfo);  // the schema, as the node's store migrates it
  const auto started = std::chrono::steady_clock::now();
  auto sent = run_two_lanes(100, node_budget(conninfo), node_budget(conninfo), 125);
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(sent.size() == 250);
  // Without the shared budget each lane alone would send 105 in its first second (210 together).
  CHECK(max_in_any_second(sent) <= 100 + 5);
  CHECK(took >= 2300ms);
  CHECK(took <= 5s);
}

TEST_CASE("a node's budget connection lost mid-run fails one take, naming it, then reconnects") {
  const auto conninfo = pg_cluster::shared().create_database();
  auto store = postgres_store::open(conninfo);
  postgres_rate_budget budget(conninfo);
  budget_request r{"carrier", 100, 5, 1, 1};
  CHECK(budget.take(r).tokens >= 1);
  store->connection().exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  CHECK_THROWS_WITH_AS(budget.take(r), doctest::Contains("shared rate budget of provider carrier"),
                       store_error);
  std::this_thread::sleep_for(20ms);  // refill one token at 100/s
  CHECK(budget.take(r).tokens >= 1);
}
