#include "engine/dispatch/rate_budget.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>
#include <vector>

#include "engine/dispatch/lane.hpp"
#include "tests/engine/dispatch/shared_rate.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::dispatch;
using namespace pigeon::engine::test;
using namespace std::chrono_literals;

namespace {

// A budget kept in memory, shared by the lanes of one test as the database row is by nodes.
struct memory_bucket {
  std::mutex mutex;
  double tokens = 0;
  steady_time at{};
};

class memory_budget final : public rate_budget {
 public:
  explicit memory_budget(memory_bucket& b) : bucket_(b) {}
  budget_grant take(const budget_request& r) override {
    std::lock_guard lock(bucket_.mutex);
    const auto now = std::chrono::steady_clock::now();
    auto elapsed = bucket_.at == steady_time{}
                       ? std::chrono::microseconds(std::chrono::hours(1))
                       : std::chrono::duration_cast<std::chrono::microseconds>(now - bucket_.at);
    auto step = take_from(bucket_.tokens, elapsed, r);
    bucket_.tokens = step.tokens_after;
    bucket_.at = now;
    return step.grant;
  }

 private:
  memory_bucket& bucket_;
};

}  // namespace

TEST_CASE("a shared budget's slice is spent within half the burst's time, capped at 100 ms") {
  auto t = terms_for(300, 15);  // the default burst of 300/s: 50 ms of rate
  CHECK(t.spend_within == 25ms);
  CHECK(t.capacity == doctest::Approx(7.5));
  auto big = terms_for(300, 300);
  CHECK(big.spend_within == 100ms);
  CHECK(big.capacity == doctest::Approx(270));
  // capacity + rate * spend_within is the burst: the ceiling of any second stays rate + burst.
  for (auto [rate, burst] : {std::pair{300.0, 15.0}, {1000.0, 50.0}, {7.0, 1.0}, {50.0, 500.0}}) {
    auto terms = terms_for(rate, burst);
    CHECK(terms.capacity + rate * std::chrono::duration<double>(terms.spend_within).count() ==
          doctest::Approx(burst));
  }
}

TEST_CASE("a take grants what is wanted up to what is there, and nothing below the need") {
  budget_request r{"carrier", 300, 15, 2, 6};
  auto full = take_from(0, 1h, r);  // refilled to capacity 7.5
  CHECK(full.grant.tokens == doctest::Approx(6));
  CHECK(full.tokens_after == doctest::Approx(1.5));
  auto short_of = take_from(1.5, 0us, r);  // 1.5 < need 2: nothing, ask again once refilled
  CHECK(short_of.grant.tokens == 0);
  CHECK(short_of.tokens_after == doctest::Approx(1.5));
  // Waits for half the capacity (3.75) when more than that is wanted: (3.75 - 1.5) / 300 s.
  CHECK(short_of.grant.retry_after >= 7400us);
  CHECK(short_of.grant.retry_after <= 7600us);
  // A send larger than the capacity goes once the bucket is full, into debt.
  budget_request large{"carrier", 300, 15, 10, 10};
  CHECK(take_from(7, 0us, large).grant.tokens == 0);
  auto debt = take_from(7.5, 0us, large);
  CHECK(debt.grant.tokens == doctest::Approx(10));
  CHECK(debt.tokens_after == doctest::Approx(-2.5));
}

TEST_CASE("two lanes sharing a budget send no more than rate + burst in any second together") {
  // The control first: two lanes of 100/s alone, as two nodes without a shared budget, send
  // twice the provider's rate.
  auto alone = run_two_lanes(100, nullptr, nullptr, 125);
  CHECK(max_in_any_second(alone) > 100 + 5 + 50);
  memory_bucket row;
  const auto started = std::chrono::steady_clock::now();
  auto shared =
      run_two_lanes(100, std::make_shared<budget_thread>(std::make_unique<memory_budget>(row)),
                    std::make_shared<budget_thread>(std::make_unique<memory_budget>(row)), 125);
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE(shared.size() == 250);
  CHECK(max_in_any_second(shared) <= 100 + 5);  // rate + the default burst (50 ms of rate)
  // And together they still reach the rate: 250 sends at 100/s take about 2.5 s, not 5.
  CHECK(took >= 2300ms);
  CHECK(took <= 4s);
}

TEST_CASE("a send waiting for the shared budget gives up when its lane is closed") {
  boost::asio::io_context io;
  memory_bucket row;
  row.tokens = -1000;  // ten seconds of debt: nothing is granted during the test
  row.at = std::chrono::steady_clock::now();
  lane l(io.get_executor(), shared_rate_config(100));
  l.share_rate(std::make_shared<budget_thread>(std::make_unique<memory_budget>(row)));
  std::vector<bool> results;
  for (int i = 0; i < 3; ++i)
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          auto ready = l.ready_to_send(1);
          results.push_back(co_await std::move(ready));
        },
        boost::asio::detached);
  io.run_for(50ms);
  CHECK(results.empty());
  l.close();
  io.run_for(2s);
  CHECK(results == std::vector<bool>{false, false, false});
  CHECK(l.not_sent_reason().find("stopped") != std::string::npos);
}
