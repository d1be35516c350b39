#include "engine/dispatch/lane.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <vector>

using namespace pigeon::engine;
using namespace pigeon::engine::dispatch;
using namespace std::chrono_literals;

namespace {
const steady_time t0 = steady_time{} + 1000h;

// A send at the wire: records when the lane let it go.
boost::asio::awaitable<void> send_one(lane* l, std::vector<steady_time>* sent) {
  co_await l->ready_to_send(1);
  sent->push_back(std::chrono::steady_clock::now());
}

// A 429 after `after`: the lane pauses for `pause`.
boost::asio::awaitable<void> throttle_after(lane* l, std::chrono::milliseconds after,
                                            std::chrono::milliseconds pause) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  timer.expires_after(after);
  co_await timer.async_wait(boost::asio::use_awaitable);
  l->pause_until(std::chrono::steady_clock::now() + pause);
}

lane_config paced(double rate, double burst) {
  lane_config config;
  config.name = "paced";
  config.rate_per_second = rate;
  config.burst = burst;
  config.concurrency = 1000;
  return config;
}

// `n` sends reaching a lane at 10/s with burst 2 (wire cap 12) in the same instant.
struct sends_at_once {
  boost::asio::io_context io;
  lane l{io.get_executor(), paced(10, 2)};
  std::vector<steady_time> sent;
  steady_time start = std::chrono::steady_clock::now();

  explicit sends_at_once(int n) {
    for (int i = 0; i < n; ++i)
      boost::asio::co_spawn(io, send_one(&l, &sent), boost::asio::detached);
  }
};
}  // namespace

TEST_CASE("a lane sends its burst at once, then no faster than its rate in segments") {
  token_bucket bucket(10, 5, t0);
  for (int i = 0; i < 5; ++i) CHECK(bucket.reserve(1, t0) == t0);
  // The sixth segment waits a tenth of a second, the tenth half a second.
  auto sixth = bucket.reserve(1, t0);
  CHECK(sixth - t0 == 100ms);
  for (int i = 0; i < 3; ++i) bucket.reserve(1, t0);
  CHECK(bucket.reserve(1, t0) - t0 == 500ms);
  // A three-segment message takes three tokens.
  CHECK(bucket.reserve(3, t0) - t0 == 800ms);
}

TEST_CASE("an idle lane's burst defaults to 50 ms of its rate and never exceeds it") {
  token_bucket bucket(400, 0, t0);
  CHECK(bucket.burst() == 20);
  CHECK(bucket.tokens(t0 + 1h) == doctest::Approx(20));
  for (int i = 0; i < 20; ++i) CHECK(bucket.reserve(1, t0 + 1h) == t0 + 1h);
  CHECK(bucket.reserve(1, t0 + 1h) > t0 + 1h);
  // A slow lane still lets one segment go at once.
  CHECK(token_bucket(5, 0, t0).burst() == 1);
}

TEST_CASE("an unpaced lane never waits unless paused") {
  token_bucket bucket(0, 0, t0);
  for (int i = 0; i < 1000; ++i) CHECK(bucket.reserve(5, t0) == t0);
  bucket.pause_until(t0 + 2s, t0);
  CHECK(bucket.reserve(1, t0) == t0 + 2s);
}

TEST_CASE("a 429 pauses the whole lane for its Retry-After and restarts it at half rate") {
  token_bucket bucket(10, 10, t0);
  bucket.pause_until(t0 + 3s, t0);
  CHECK(bucket.tokens(t0 + 2s) <= 0);
  CHECK(bucket.rate_factor(t0 + 1s) == 0);
  // Nothing goes before the pause ends; then tokens come at 5/s at first.
  CHECK(bucket.reserve(1, t0 + 1s) == t0 + 3s + 200ms);
  CHECK(bucket.rate_factor(t0 + 3s) == doctest::Approx(0.5));
  // The rate recovers fully over token_bucket::recovery.
  CHECK(bucket.rate_factor(t0 + 3s + token_bucket::recovery) == doctest::Approx(1.0));
}

TEST_CASE("the circuit opens at half carrier faults over twenty attempts, not before") {
  circuit_breaker b;  // 50% of >= 20 attempts in 30 s
  for (int i = 0; i < 10; ++i) b.record(false, false, t0);
  for (int i = 0; i < 9; ++i) b.record(true, false, t0);
  CHECK(b.state(t0) == circuit_state::closed);  // 19 attempts: too few to judge
  b.record(true, false, t0);                    // 20 attempts, 10 faults
  CHECK(b.state(t0) == circuit_state::open);
  CHECK_FALSE(b.allow(t0 + 1s).allowed);
}

TEST_CASE("recipient errors and old failures never open the circuit") {
  circuit_breaker b;
  // Recipient faults are recorded as successes of the carrier.
  for (int i = 0; i < 100; ++i) b.record(false, false, t0);
  CHECK(b.state(t0) == circuit_state::closed);
  // Faults spread so that the 30 s window never holds 20 of them with a majority.
  circuit_breaker spread;
  for (int i = 0; i < 60; ++i) {
    spread.record(true, false, t0 + std::chrono::seconds(i * 4));
    spread.record(false, false, t0 + std::chrono::seconds(i * 4));
  }
  CHECK(spread.state(t0 + 240s) == circuit_state::closed);
  CHECK(spread.error_rate(t0 + 240s) == doctest::Approx(0.5));
  CHECK(spread.attempts_in_window(t0 + 240s) < 20);
}

TEST_CASE(
    "after the cool-down one trial goes; its success closes the circuit, a fault reopens it") {
  breaker_config cfg;
  cfg.min_attempts = 4;
  cfg.cool_down = 10s;
  circuit_breaker b(cfg);
  for (int i = 0; i < 4; ++i) b.record(true, false, t0);
  REQUIRE(b.state(t0) == circuit_state::open);
  CHECK(b.reopens_at() == t0 + 10s);
  CHECK_FALSE(b.allow(t0 + 9s).allowed);
  CHECK(b.state(t0 + 10s) == circuit_state::half_open);
  auto trial = b.allow(t0 + 10s);
  CHECK(trial.allowed);
  CHECK(trial.trial);
  CHECK_FALSE(b.allow(t0 + 10s).allowed);  // one trial at a time
  b.record(true, true, t0 + 11s);
  CHECK(b.state(t0 + 11s) == circuit_state::open);
  CHECK(b.reopens_at() == t0 + 21s);

  auto second = b.allow(t0 + 21s);
  REQUIRE(second.trial);
  b.record(false, true, t0 + 22s);
  CHECK(b.state(t0 + 22s) == circuit_state::closed);
  CHECK(b.allow(t0 + 22s).allowed);
  CHECK(b.error_rate(t0 + 22s) == 0);  // a closed circuit starts a fresh window
}

TEST_CASE("a trial given back lets the next message try") {
  breaker_config cfg;
  cfg.min_attempts = 1;
  cfg.cool_down = 1s;
  circuit_breaker b(cfg);
  b.record(true, false, t0);
  auto p = b.allow(t0 + 1s);
  REQUIRE(p.trial);
  b.give_back(p);
  CHECK(b.allow(t0 + 1s).allowed);
}

TEST_CASE("backoff is full-jitter exponential and capped") {
  CHECK(full_jitter_backoff(1, 2s, 10min, 0.0) == 0ms);
  CHECK(full_jitter_backoff(1, 2s, 10min, 1.0) == 2s);
  CHECK(full_jitter_backoff(4, 2s, 10min, 1.0) == 16s);
  CHECK(full_jitter_backoff(4, 2s, 10min, 0.5) == 8s);
  CHECK(full_jitter_backoff(30, 2s, 10min, 1.0) == 10min);
  CHECK(full_jitter_backoff(1000, 2s, 10min, 0.25) == 150s);
}

TEST_CASE("lane latency percentiles come from the recent requests only") {
  latency_window w;
  CHECK(w.percentile(0.5) == 0us);
  for (int i = 1; i <= 100; ++i) w.add(std::chrono::microseconds(i));
  CHECK(w.percentile(0.5) == 50us);
  CHECK(w.percentile(0.99) == 99us);
  for (int i = 0; i < 1024; ++i) w.add(7ms);
  CHECK(w.percentile(0.5) == 7ms);
  CHECK(w.percentile(0.99) == 7ms);
}

TEST_CASE("the wire window lets at most its cap go in any second, however sends arrive") {
  wire_window w(12);
  // Thirty sends arriving together: twelve now, twelve a second later, six the second after.
  std::vector<steady_time> at;
  for (int i = 0; i < 30; ++i) at.push_back(w.admit(1, t0));
  CHECK(at[11] == t0);
  CHECK(at[12] == t0 + 1s);
  CHECK(at[23] == t0 + 1s);
  CHECK(at[24] == t0 + 2s);
  CHECK(at[29] == t0 + 2s);
  // Sliding, not per calendar second: no 1 s window anywhere holds more than the cap.
  for (std::size_t i = 0; i < at.size(); ++i) {
    int in_window = 0;
    for (auto t : at) in_window += (t >= at[i] && t < at[i] + 1s) ? 1 : 0;
    CHECK(in_window <= 12);
  }
}

TEST_CASE("the wire window never delays sends that arrive spaced at the lane's rate") {
  // Rate 10 with burst 2: cap 12. A send every 100 ms always goes at once.
  wire_window w(12);
  for (int i = 0; i < 100; ++i) {
    const auto now = t0 + i * 100ms;
    CHECK(w.admit(1, now) == now);
  }
}

TEST_CASE("the wire window counts segments and lets an oversized send go alone") {
  wire_window w(10);
  CHECK(w.admit(6, t0) == t0);
  CHECK(w.admit(4, t0 + 100ms) == t0 + 100ms);
  CHECK(w.admit(3, t0 + 200ms) == t0 + 1s);  // waits for the six to age out
  CHECK(w.admit(25, t0 + 1s) == t0 + 2s);    // alone, once everything else has aged out
  CHECK(w.admit(1, t0 + 1s) == t0 + 3s);
  // Unlimited without a cap.
  wire_window none(0);
  for (int i = 0; i < 1000; ++i) CHECK(none.admit(5, t0) == t0);
}

TEST_CASE("sends held up together after pacing leave under the lane's ceiling, not all at once") {
  // E.g. a slow commit of their intents: twenty sends reach the wire together; twelve go, the
  // other eight a second later.
  sends_at_once t(20);
  t.io.run_for(3s);
  REQUIRE(t.sent.size() == 20);
  CHECK(t.sent[11] - t.start < 200ms);
  CHECK(t.sent[12] - t.start >= 1s);
  CHECK(t.sent[19] - t.start < 1800ms);
}

TEST_CASE("a send waiting at the wire window also waits out a 429 that arrives meanwhile") {
  // The thirteenth waits for the window (until 1 s); a 429 at 500 ms pauses the lane for 1.5 s.
  sends_at_once t(13);
  boost::asio::co_spawn(t.io, throttle_after(&t.l, 500ms, 1500ms), boost::asio::detached);
  t.io.run_for(3s);
  REQUIRE(t.sent.size() == 13);
  CHECK(t.sent[11] - t.start < 200ms);
  CHECK(t.sent[12] - t.start >= 2s);
}
