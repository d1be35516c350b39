#include "engine/dispatch/lane.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <optional>

#include "engine/dispatch/rate_budget.hpp"

namespace pigeon::engine::dispatch {

namespace asio = boost::asio;
using asio::use_awaitable;

namespace {
double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}
std::chrono::steady_clock::duration from_seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}
}  // namespace

// --- token_bucket ---------------------------------------------------------------------------

token_bucket::token_bucket(double rate, double burst, steady_time now)
    : rate_(rate > 0 ? rate : 0),
      burst_(burst > 0 ? burst : std::max(1.0, rate_ / 20)),
      tokens_(burst_),
      last_(now) {}

void token_bucket::set_rate(double rate, double burst, steady_time now) {
  refill(now);
  rate_ = rate > 0 ? rate : 0;
  burst_ = burst > 0 ? burst : std::max(1.0, rate_ / 20);
  tokens_ = std::min(tokens_, burst_);
}

double token_bucket::rate_factor(steady_time now) const {
  if (paused_until_ == steady_time{}) return 1.0;
  if (now < paused_until_) return 0.0;
  return 0.5 + 0.5 * std::min(1.0, seconds(now - paused_until_) / seconds(recovery));
}

void token_bucket::refill(steady_time now) {
  if (now <= last_) return;
  const auto start = std::max(last_, paused_until_);
  last_ = now;
  if (rate_ <= 0 || now <= start) return;
  tokens_ = std::min(burst_, tokens_ + seconds(now - start) * rate_ * rate_factor(now));
}

double token_bucket::tokens(steady_time now) const {
  token_bucket copy = *this;
  copy.refill(now);
  return copy.tokens_;
}

steady_time token_bucket::reserve(double segments, steady_time now) {
  const auto earliest = std::max(now, paused_until_);
  if (rate_ <= 0) return earliest;
  refill(now);
  tokens_ -= segments;
  if (tokens_ >= 0) return earliest;
  // Debt is repaid at the (possibly slowed) rate from the end of any pause.
  const double factor = std::max(0.5, rate_factor(earliest));
  return earliest + from_seconds(-tokens_ / (rate_ * factor));
}

void token_bucket::pause_until(steady_time until, steady_time now) {
  refill(now);
  paused_until_ = std::max(paused_until_, until);
  tokens_ = std::min(tokens_, 0.0);
  last_ = std::max(last_, now);
}

// --- wire_window ----------------------------------------------------------------------------

wire_window::wire_window(double cap, std::chrono::steady_clock::duration span)
    : cap_(cap > 0 ? cap : 0), span_(span) {}

void wire_window::set_cap(double cap) { cap_ = cap > 0 ? cap : 0; }

void wire_window::expire(steady_time at) {
  while (!recent_.empty() && recent_.front().first <= at - span_) {
    sum_ -= recent_.front().second;
    recent_.pop_front();
  }
  if (recent_.empty()) sum_ = 0;  // no drift from adding and taking fractions
}

steady_time wire_window::admit(double segments, steady_time now) {
  if (cap_ <= 0) return now;
  auto at = std::max(now, last_);
  expire(at);
  // Wait for the oldest sends to leave the window until this one fits under the cap.
  while (!recent_.empty() && sum_ + segments > cap_) {
    at = recent_.front().first + span_;
    expire(at);
  }
  recent_.emplace_back(at, segments);
  sum_ += segments;
  last_ = at;
  return at;
}

// --- circuit_breaker ------------------------------------------------------------------------

const char* to_string(circuit_state s) {
  switch (s) {
    case circuit_state::closed:
      return "closed";
    case circuit_state::open:
      return "open";
    case circuit_state::half_open:
      return "half-open";
  }
  return "?";
}

circuit_breaker::circuit_breaker(breaker_config config) : config_(config) {}

std::int64_t circuit_breaker::bucket_index(steady_time now) const {
  auto width = std::max<std::chrono::steady_clock::duration>(config_.window / buckets,
                                                             std::chrono::milliseconds(1));
  return now.time_since_epoch() / width;
}

void circuit_breaker::totals(steady_time now, int& attempts, int& failures) const {
  attempts = failures = 0;
  const auto current = bucket_index(now);
  for (const auto& b : window_) {
    if (b.index >= 0 && b.index > current - buckets) {
      attempts += b.attempts;
      failures += b.failures;
    }
  }
}

void circuit_breaker::open(steady_time now) {
  state_ = circuit_state::open;
  open_until_ = now + config_.cool_down;
  trials_out_ = 0;
  window_ = {};
}

circuit_breaker::permit circuit_breaker::allow(steady_time now) {
  if (state_ == circuit_state::open) {
    if (now < open_until_) return {};
    state_ = circuit_state::half_open;
    trials_out_ = 0;
  }
  if (state_ == circuit_state::half_open) {
    if (trials_out_ >= config_.half_open_trials) return {};
    ++trials_out_;
    return {true, true};
  }
  return {true, false};
}

void circuit_breaker::give_back(const permit& p) {
  if (p.trial && trials_out_ > 0) --trials_out_;
}

void circuit_breaker::record(bool carrier_fault, bool trial, steady_time now) {
  if (trial) {
    if (trials_out_ > 0) --trials_out_;
    if (state_ != circuit_state::half_open) return;
    if (carrier_fault) {
      open(now);
    } else {
      state_ = circuit_state::closed;
      window_ = {};
    }
    return;
  }
  if (state_ != circuit_state::closed) return;  // a late answer to a request sent before opening
  const auto index = bucket_index(now);
  auto& b = window_[static_cast<std::size_t>(index % buckets)];
  if (b.index != index) b = {index, 0, 0};
  ++b.attempts;
  if (carrier_fault) ++b.failures;
  int attempts = 0, failures = 0;
  totals(now, attempts, failures);
  if (attempts >= config_.min_attempts && failures >= config_.failure_ratio * attempts) open(now);
}

circuit_state circuit_breaker::state(steady_time now) const {
  if (state_ == circuit_state::open && now >= open_until_) return circuit_state::half_open;
  return state_;
}

double circuit_breaker::error_rate(steady_time now) const {
  int attempts = 0, failures = 0;
  totals(now, attempts, failures);
  return attempts ? static_cast<double>(failures) / attempts : 0.0;
}

int circuit_breaker::attempts_in_window(steady_time now) const {
  int attempts = 0, failures = 0;
  totals(now, attempts, failures);
  return attempts;
}

// --- latency_window, backoff ----------------------------------------------------------------

void latency_window::add(std::chrono::microseconds latency) {
  if (samples_.size() < capacity) {
    samples_.push_back(latency.count());
  } else {
    samples_[next_] = latency.count();
  }
  next_ = (next_ + 1) % capacity;
}

std::chrono::microseconds latency_window::percentile(double p) const {
  if (samples_.empty()) return {};
  auto copy = samples_;
  auto k = static_cast<std::size_t>(std::clamp(p, 0.0, 1.0) * static_cast<double>(copy.size() - 1));
  std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(k), copy.end());
  return std::chrono::microseconds(copy[k]);
}

std::chrono::milliseconds full_jitter_backoff(int attempt, std::chrono::milliseconds base,
                                              std::chrono::milliseconds max, double uniform01) {
  const double cap = std::min<double>(
      static_cast<double>(max.count()),
      static_cast<double>(base.count()) * std::pow(2.0, std::clamp(attempt, 1, 62) - 1));
  return std::chrono::milliseconds(static_cast<long long>(cap * std::clamp(uniform01, 0.0, 1.0)));
}

// --- lane ----------------------------------------------------------------------------------

lane::lane(asio::any_io_executor ex, lane_config config, breaker_config breaker)
    : config_(std::move(config)),
      bucket_(config_.rate_per_second, config_.burst, std::chrono::steady_clock::now()),
      wire_(bucket_.rate() > 0 ? bucket_.rate() + bucket_.burst() : 0),
      breaker_(breaker),
      slot_freed_(ex),
      gate_turn_(ex) {
  slot_freed_.expires_at(asio::steady_timer::time_point::max());
  gate_turn_.expires_at(asio::steady_timer::time_point::max());
}

asio::awaitable<void> lane::acquire_slot() {
  ++waiting_;
  while (busy_ >= config_.concurrency) {
    (void)co_await slot_freed_.async_wait(asio::as_tuple(use_awaitable));
  }
  --waiting_;
  ++busy_;
}

void lane::release_slot() {
  --busy_;
  slot_freed_.cancel_one();
}

asio::awaitable<void> lane::wait_out_pause() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int rounds = 0; rounds < 1000; ++rounds) {  // bounded: each round ends at a later pause
    auto until = bucket_.paused_until();
    if (until <= std::chrono::steady_clock::now()) break;
    timer.expires_at(until);
    (void)co_await timer.async_wait(asio::as_tuple(use_awaitable));
  }
}

asio::awaitable<bool> lane::ready_to_send(int segments) {
  for (int rounds = 0; rounds < 1000; ++rounds) {  // bounded: each round ends at a later pause
    if (bucket_.paused_until() > std::chrono::steady_clock::now()) co_await wait_out_pause();
    // The shared budget before the wire: its tokens are spent at once, and the wire (this
    // node's own ceiling) does not hold back sends the budget already spaced.
    if (shared_ && bucket_.rate() > 0) {
      auto taking = take_shared(segments);
      if (!co_await std::move(taking)) co_return false;
    }
    auto now = std::chrono::steady_clock::now();
    const auto at = wire_.admit(segments, now);
    if (at > now) {
      ++waiting_;
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_at(at);
      (void)co_await timer.async_wait(asio::as_tuple(use_awaitable));
      --waiting_;
      now = std::chrono::steady_clock::now();
    }
    // A 429 that paused the lane while this send waited at the window holds it too (its place
    // in the window stays taken: a later send waits a little longer, never the reverse). Its
    // shared tokens lapse: the next round takes new ones.
    if (bucket_.paused_until() <= now) co_return true;
  }
  co_return true;
}

// The gate: one send at a time, in the order they came, takes from the tokens leased for this
// lane, leasing more from the shared budget when they do not cover it. A lease asks for what
// every waiting send needs, so under load one database round trip serves many sends.
asio::awaitable<bool> lane::take_shared(double segments) {
  const auto ticket = next_ticket_++;
  gate_segments_ += segments;
  ++waiting_;
  struct leave_gate {  // on every way out: the next ticket's turn
    lane& l;
    double segments;
    ~leave_gate() {
      l.gate_segments_ -= segments;
      --l.waiting_;
      ++l.serving_;
      l.gate_turn_.cancel();
    }
  } leaving{*this, segments};
  while (ticket != serving_ && !closed_)
    (void)co_await gate_turn_.async_wait(asio::as_tuple(use_awaitable));
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::optional<steady_time> failing_since;
  for (;;) {
    if (closed_) {
      not_sent_ = "the engine stopped before the shared rate allowed it";
      co_return false;
    }
    auto now = std::chrono::steady_clock::now();
    while (!leased_.empty() && leased_.front().first <= now) leased_.pop_front();  // lapsed
    double held = 0;
    for (const auto& [until, tokens] : leased_) held += tokens;
    if (held + 1e-9 >= segments) {
      for (double left = segments; left > 0 && !leased_.empty();) {
        const double spent = std::min(left, leased_.front().second);
        left -= spent;
        if ((leased_.front().second -= spent) <= 1e-9) leased_.pop_front();
      }
      co_return true;
    }
    budget_request request{config_.name, bucket_.rate(), bucket_.burst(), segments - held,
                           std::max(segments, gate_segments_) - held};
    const auto asked = now;  // the slice is spent within spend_within of asking
    const auto spend_by = asked + terms_for(request.rate, request.burst).spend_within;
    std::chrono::steady_clock::duration pause{};
    try {
      auto taking = shared_->take(std::move(request));
      auto grant = co_await std::move(taking);
      failing_since.reset();
      if (grant.tokens > 0) {
        leased_.emplace_back(spend_by, grant.tokens);
        continue;
      }
      pause = std::clamp<std::chrono::steady_clock::duration>(
          grant.retry_after, std::chrono::microseconds(200), std::chrono::seconds(1));
    } catch (const std::exception& e) {
      // The database is out of reach: nothing may go past the shared rate. Wait and ask again;
      // past budget_give_up the send is not made (the dispatcher reschedules it).
      now = std::chrono::steady_clock::now();
      if (!failing_since) failing_since = now;
      not_sent_ = std::string("the shared rate budget cannot be reached: ") + e.what();
      if (now - *failing_since >= budget_give_up) co_return false;
      pause = std::chrono::seconds(1);
    }
    timer.expires_after(pause);
    (void)co_await timer.async_wait(asio::as_tuple(use_awaitable));
  }
}

void lane::close() {
  closed_ = true;
  gate_turn_.cancel();
}

void lane::set_rate(double rate, double burst) {
  bucket_.set_rate(rate, burst, std::chrono::steady_clock::now());
  wire_.set_cap(bucket_.rate() > 0 ? bucket_.rate() + bucket_.burst() : 0);
}

asio::awaitable<void> lane::pace(int segments) {
  auto now = std::chrono::steady_clock::now();
  auto at = bucket_.reserve(segments, now);
  if (at <= now) co_return;
  ++waiting_;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int rounds = 0; rounds < 1000; ++rounds) {  // bounded: each round ends at a later pause
    timer.expires_at(at);
    (void)co_await timer.async_wait(asio::as_tuple(use_awaitable));
    now = std::chrono::steady_clock::now();
    if (bucket_.paused_until() <= now) break;
    at = bucket_.paused_until();  // a 429 arrived while this send was waiting its turn
  }
  --waiting_;
}

void lane::pause_until(steady_time until) {
  bucket_.pause_until(until, std::chrono::steady_clock::now());
}

lane_snapshot lane::snapshot() const {
  const auto now = std::chrono::steady_clock::now();
  lane_snapshot s;
  s.name = config_.name;
  s.rate_limit = bucket_.rate();
  s.burst = bucket_.burst();
  s.tokens = bucket_.tokens(now);
  s.rate_factor = bucket_.rate_factor(now);
  s.paused = bucket_.paused_until() > now;
  if (s.paused) s.rate_factor = 0;
  s.in_flight = busy_;
  s.concurrency = config_.concurrency;
  s.circuit = breaker_.state(now);
  s.submitted = submitted_;
  s.failed = failed_;
  s.retried = retried_;
  s.error_rate = breaker_.error_rate(now);
  s.latency_p50 = latency_.percentile(0.5);
  s.latency_p99 = latency_.percentile(0.99);
  s.backlog = waiting_;
  s.last_error = last_error_;
  s.rate_shared = shared_ != nullptr;
  return s;
}

std::string lanes_json(const std::vector<lane_snapshot>& lanes) {
  boost::json::array out;
  for (const auto& l : lanes) {
    boost::json::object o;
    o["name"] = l.name;
    o["circuit"] = to_string(l.circuit);
    o["rate_limit"] = l.rate_limit;
    o["rate_factor"] = std::round(l.rate_factor * 100) / 100;
    o["paused"] = l.paused;
    o["in_flight"] = l.in_flight;
    o["concurrency"] = l.concurrency;
    o["backlog"] = l.backlog;
    o["submitted"] = l.submitted;
    o["failed"] = l.failed;
    o["retried"] = l.retried;
    o["error_rate"] = std::round(l.error_rate * 1000) / 1000;
    o["p99_ms"] = static_cast<double>(l.latency_p99.count()) / 1000.0;
    if (l.rate_shared) o["rate_shared"] = true;
    if (!l.last_error.empty()) o["last_error"] = l.last_error;
    out.push_back(std::move(o));
  }
  return boost::json::serialize(out);
}

}  // namespace pigeon::engine::dispatch
