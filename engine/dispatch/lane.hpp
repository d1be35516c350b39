#pragma once

// Carrier lanes: the per-provider machinery between the dispatcher and the HTTP client.
//
//   token_bucket     pacing in segments per second with a burst; a 429 pauses and slows it.
//   wire_window      the ceiling at the wire: no second carries more than rate + burst segments.
//   circuit_breaker  opens on a carrier failure rate over a sliding window, half-open trials
//                    after a cool-down; only carrier faults (fault::carrier) count.
//   latency_window   the last N request latencies, for p50/p99.
//   lane             one provider: the above plus a concurrency limit and counters, with the
//                    awaitable slot/token waits the dispatcher uses.
//
// Time: everything here runs on the steady clock (real elapsed time), whatever the engine
// clock; the pure classes take `now` as a parameter so tests drive them without sleeping.
// Threading: none of these classes is thread-safe; a lane lives on the dispatcher's executor.

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/carrier.hpp"

namespace pigeon::engine::dispatch {

class budget_thread;

using steady_time = std::chrono::steady_clock::time_point;

// One carrier lane's configuration: a codec plus its pacing (segments per second), burst and
// concurrency.
struct lane_config {
  std::string name;
  std::shared_ptr<const carrier_codec> codec;
  double rate_per_second = 0;  // segments per second; 0 = unpaced
  int concurrency = 16;
  double burst = 0;  // segments that may go at once after idling; 0 = 50 ms of rate (min 1)
};

// Segment pacing. Tokens accrue at `rate` up to `burst`; a send of k segments takes k tokens.
// reserve() never refuses: it takes the tokens, going into debt, and returns when the send may
// go, so callers are served in the order they reserved and the long-run rate never exceeds
// `rate` (plus the initial burst). A pause (429) discards the tokens and stops accrual until
// its end, then the rate restarts at half and recovers linearly over `recovery`.
class token_bucket {
 public:
  // rate <= 0: unlimited (reserve() always returns now). burst <= 0: 50 ms of rate (and at
  // least one segment).
  token_bucket(double rate, double burst, steady_time now);

  steady_time reserve(double segments, steady_time now);
  void pause_until(steady_time until, steady_time now);
  // A new rate and burst (SIGHUP): tokens accrued so far at the old rate are kept, capped at the
  // new burst; reservations already made keep their times.
  void set_rate(double rate, double burst, steady_time now);

  double tokens(steady_time now) const;  // may be negative: debt of earlier reservations
  double rate() const { return rate_; }
  double burst() const { return burst_; }
  double rate_factor(steady_time now) const;  // 1 = full rate; 0.5 right after a pause
  steady_time paused_until() const { return paused_until_; }

  static constexpr std::chrono::seconds recovery{10};

 private:
  void refill(steady_time now);

  double rate_;
  double burst_;
  double tokens_;
  steady_time last_;
  steady_time paused_until_{};
};

// The ceiling at the wire for a paced lane: no window of `span` (sliding, so no calendar second
// either) carries more than `cap` segments, however sends reach it. The token bucket paces sends
// before their intents are made durable; a slow commit or a stalled thread can hold paced sends
// back and release them together, and this re-spaces them. cap = rate + burst, what the bucket
// itself allows in any second: in normal flow sends arrive under it and admit() never delays one.
class wire_window {
 public:
  // cap <= 0: no ceiling (admit() returns now).
  explicit wire_window(double cap,
                       std::chrono::steady_clock::duration span = std::chrono::seconds(1));

  // The time, at or after `now`, from which a send of `segments` may go, recorded as going
  // then; callers are served in the order they ask. A send larger than the cap goes alone.
  steady_time admit(double segments, steady_time now);
  void set_cap(double cap);  // a new rate or burst (SIGHUP); what went before still counts
  double cap() const { return cap_; }

 private:
  void expire(steady_time at);

  double cap_;
  std::chrono::steady_clock::duration span_;
  double sum_ = 0;  // segments in recent_
  steady_time last_{};
  std::deque<std::pair<steady_time, double>> recent_;  // admitted sends, in time order
};

enum class circuit_state { closed, open, half_open };
const char* to_string(circuit_state s);

struct breaker_config {
  std::chrono::milliseconds window{std::chrono::seconds(30)};
  int min_attempts = 20;       // no verdict on fewer attempts in the window
  double failure_ratio = 0.5;  // opens at or above this share of carrier faults
  std::chrono::milliseconds cool_down{std::chrono::seconds(30)};  // open -> half-open
  int half_open_trials = 1;  // requests let through while half-open
};

// A circuit breaker over carrier faults. Closed: every request goes; results fill a sliding
// window (10 buckets); at >= min_attempts with failure share >= failure_ratio it opens. Open:
// nothing goes until cool_down passed, then half-open: up to half_open_trials requests go; a
// success closes it (window cleared), a carrier fault opens it again.
class circuit_breaker {
 public:
  explicit circuit_breaker(breaker_config config = {});

  // Whether a request may go now. In half-open state a true answer takes a trial permit: the
  // caller MUST then call record() with trial = true, or give_back() if it did not send.
  struct permit {
    bool allowed = false;
    bool trial = false;
  };
  permit allow(steady_time now);
  void give_back(const permit& p);

  // Gives a permit back at the end of its scope unless settled() (its request's result was
  // record()ed): every other way out of a send, an exception included, returns its trial, so a
  // half-open circuit is never left waiting for a trial that will not report.
  class permit_guard {
   public:
    permit_guard(circuit_breaker& b, permit p) : breaker_(&b), permit_(p) {}
    ~permit_guard() {
      if (breaker_) breaker_->give_back(permit_);
    }
    permit_guard(const permit_guard&) = delete;
    permit_guard& operator=(const permit_guard&) = delete;
    void settled() { breaker_ = nullptr; }

   private:
    circuit_breaker* breaker_;
    permit permit_;
  };

  // The result of a request: carrier_fault = transport error, 5xx, 429 or authentication
  // (verdict fault::carrier); successes and recipient faults pass false.
  void record(bool carrier_fault, bool trial, steady_time now);

  circuit_state state(steady_time now) const;
  steady_time reopens_at() const { return open_until_; }  // meaningful while open
  double error_rate(steady_time now) const;               // carrier faults / attempts in window
  int attempts_in_window(steady_time now) const;

 private:
  struct bucket {
    std::int64_t index = -1;
    int attempts = 0;
    int failures = 0;
  };
  static constexpr int buckets = 10;
  std::int64_t bucket_index(steady_time now) const;
  void totals(steady_time now, int& attempts, int& failures) const;
  void open(steady_time now);

  breaker_config config_;
  circuit_state state_ = circuit_state::closed;
  steady_time open_until_{};
  int trials_out_ = 0;
  std::array<bucket, buckets> window_{};
};

// The last `capacity` latencies; percentiles over them.
class latency_window {
 public:
  void add(std::chrono::microseconds latency);
  std::chrono::microseconds percentile(double p) const;  // 0 when empty

 private:
  static constexpr std::size_t capacity = 1024;
  std::vector<std::int64_t> samples_;
  std::size_t next_ = 0;
};

// Full-jitter exponential backoff: uniform in [0, min(max, base * 2^(attempt-1))], attempt
// counting from 1; `uniform01` is a draw in [0, 1).
std::chrono::milliseconds full_jitter_backoff(int attempt, std::chrono::milliseconds base,
                                              std::chrono::milliseconds max, double uniform01);

// What ops sees of a lane (dispatcher::lanes()).
struct lane_snapshot {
  std::string name;
  double rate_limit = 0;  // segments per second, 0 = unpaced
  double burst = 0;
  double tokens = 0;       // negative: reservations waiting for their turn
  double rate_factor = 1;  // < 1 while recovering from a 429
  bool paused = false;     // inside a carrier's Retry-After
  int in_flight = 0;
  int concurrency = 0;
  circuit_state circuit = circuit_state::closed;
  std::int64_t submitted = 0, failed = 0, retried = 0;
  double error_rate = 0;  // carrier faults / attempts over the breaker's window
  std::chrono::microseconds latency_p50{0}, latency_p99{0};
  int backlog = 0;           // messages waiting for a slot or a token
  std::string last_error;    // the last carrier fault, e.g. "carrier 503: busy"
  bool rate_shared = false;  // rate_limit is shared with the other nodes (rate_budget.hpp)
};

// The lanes as a JSON array of objects (name, rate_limit, circuit, in_flight, backlog, p99_ms,
// error_rate, ...), as the engine stores them with its heartbeat for `pigeon status`.
std::string lanes_json(const std::vector<lane_snapshot>& lanes);

// One provider lane. Owned by the dispatcher, used on its executor only.
class lane {
 public:
  lane(boost::asio::any_io_executor ex, lane_config config, breaker_config breaker = {});

  const lane_config& config() const { return config_; }
  token_bucket& bucket() { return bucket_; }
  circuit_breaker& breaker() { return breaker_; }

  // Waits for a concurrency slot; release_slot() frees it.
  boost::asio::awaitable<void> acquire_slot();
  void release_slot();
  // Releases an acquired slot once: at release() or at the end of its scope.
  class slot_guard {
   public:
    explicit slot_guard(lane& l) : lane_(&l) {}
    ~slot_guard() { release(); }
    slot_guard(const slot_guard&) = delete;
    slot_guard& operator=(const slot_guard&) = delete;
    void release() {
      if (lane_) lane_->release_slot();
      lane_ = nullptr;
    }

   private:
    lane* lane_;
  };
  // Waits until `segments` tokens are this caller's and no pause is in force.
  boost::asio::awaitable<void> pace(int segments);
  // Waits while the lane is paused by a carrier's Retry-After (a 429 that arrived after this
  // send passed pace(), e.g. while its intent was being made durable).
  boost::asio::awaitable<void> wait_out_pause();
  // Right before the request: waits out any pause, then for the shared budget's tokens (see
  // share_rate), then for the wire window (paced lanes) to take `segments`, and again for a
  // pause that began meanwhile. False: the send must not go (the lane was closed, or the shared
  // budget could not be reached for budget_give_up; not_sent_reason() says why).
  boost::asio::awaitable<bool> ready_to_send(int segments);
  // This lane's rate is shared with the other nodes of its database (rate_budget.hpp): each
  // send also takes its segments from `budget`, the sends of a lane in the order they asked.
  // Null: the lane's own rate alone (SQLite, unpaced lanes).
  void share_rate(std::shared_ptr<budget_thread> budget) { shared_ = std::move(budget); }
  bool rate_shared() const { return shared_ != nullptr; }
  // Sends waiting at the shared budget give up (ready_to_send returns false): the dispatcher
  // abandoned its run.
  void close();
  const std::string& not_sent_reason() const { return not_sent_; }
  // How long a send waits for a shared budget that cannot be reached before giving up.
  static constexpr std::chrono::seconds budget_give_up{10};
  // A new rate and burst (SIGHUP), for the bucket and the wire window alike.
  void set_rate(double rate, double burst);
  // A 429: the whole lane pauses until `until` and then restarts slower.
  void pause_until(steady_time until);

  void count_submitted() { ++submitted_; }
  void count_failed() { ++failed_; }
  void count_retried() { ++retried_; }
  void add_latency(std::chrono::microseconds l) { latency_.add(l); }
  void set_last_error(std::string e) { last_error_ = std::move(e); }
  const std::string& last_error() const { return last_error_; }

  lane_snapshot snapshot() const;

 private:
  // The shared budget's gate (ready_to_send): true once `segments` tokens are this send's.
  boost::asio::awaitable<bool> take_shared(double segments);

  lane_config config_;
  token_bucket bucket_;
  wire_window wire_;
  circuit_breaker breaker_;
  latency_window latency_;
  int busy_ = 0;
  int waiting_ = 0;
  boost::asio::steady_timer slot_freed_;
  std::int64_t submitted_ = 0, failed_ = 0, retried_ = 0;
  std::string last_error_;
  // The shared budget (null: none), the tokens taken from it not yet spent (spend by, amount;
  // in time order), and the gate's queue: tickets served in order, the segments waiting.
  std::shared_ptr<budget_thread> shared_;
  std::deque<std::pair<steady_time, double>> leased_;
  std::uint64_t next_ticket_ = 0, serving_ = 0;
  double gate_segments_ = 0;
  boost::asio::steady_timer gate_turn_;
  bool closed_ = false;
  std::string not_sent_;
};

}  // namespace pigeon::engine::dispatch
