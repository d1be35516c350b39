#include "engine/dispatch/rate_budget.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace pigeon::engine::dispatch {

namespace asio = boost::asio;

namespace {
constexpr double max_spend_within_s = 0.1;
}  // namespace

budget_terms terms_for(double rate, double burst) {
  budget_terms t;
  if (rate <= 0 || burst <= 0) return t;
  const double within = std::min(max_spend_within_s, burst / (2 * rate));
  t.spend_within = std::chrono::microseconds(static_cast<std::int64_t>(within * 1e6));
  // From the rounded interval, so capacity + rate * spend_within never exceeds the burst.
  t.capacity = burst - rate * static_cast<double>(t.spend_within.count()) / 1e6;
  return t;
}

budget_step take_from(double tokens, std::chrono::microseconds elapsed, const budget_request& r) {
  const auto terms = terms_for(r.rate, r.burst);
  const double seconds = static_cast<double>(std::max<std::int64_t>(0, elapsed.count())) / 1e6;
  const double available = std::min(terms.capacity, tokens + seconds * r.rate);
  // A send larger than the whole capacity goes once the bucket is full (into debt).
  const double need = std::min(r.need, terms.capacity);
  budget_step step;
  constexpr double epsilon = 1e-9;
  if (available + epsilon >= need) {
    step.grant.tokens = std::max(r.need, std::min(available, std::max(r.want, r.need)));
    step.tokens_after = available - step.grant.tokens;
    return step;
  }
  // Nothing now: ask again once what is missing has refilled, waiting for half the capacity
  // when more is wanted, so contending nodes take slices rather than a token at a time.
  const double target = std::max(need, std::min(std::max(r.want, r.need), terms.capacity / 2));
  step.tokens_after = available;
  step.grant.retry_after =
      std::chrono::microseconds(static_cast<std::int64_t>((target - available) / r.rate * 1e6) + 1);
  return step;
}

budget_thread::budget_thread(std::unique_ptr<rate_budget> budget) : budget_(std::move(budget)) {}

budget_thread::~budget_thread() { thread_.join(); }

asio::awaitable<budget_grant> budget_thread::take(budget_request request) {
  auto op = asio::co_spawn(
      thread_,
      [this, request = std::move(request)]() -> asio::awaitable<budget_grant> {
        co_return budget_->take(request);
      },
      asio::use_awaitable);
  co_return co_await std::move(op);
}

}  // namespace pigeon::engine::dispatch
