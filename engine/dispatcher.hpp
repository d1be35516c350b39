#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/async_store.hpp"
#include "engine/caps.hpp"
#include "engine/carrier.hpp"
#include "engine/clock.hpp"
#include "engine/http.hpp"
#include "engine/send_window.hpp"

namespace pigeon::engine {

// One carrier lane: a codec plus its pacing (segments per second) and concurrency.
struct lane_config {
  std::string name;
  std::shared_ptr<const carrier_codec> codec;
  double rate_per_second = 0;  // 0 = unpaced
  int concurrency = 16;
};

struct sender_profile {
  std::string signature;
  std::string opt_out_hint;
  int sms_max_segments = 1;  // a longer text fails rather than going out split or truncated
  bool smart_encoding = false;
  std::vector<std::string> route;  // lane names, first is used (failover: a later issue)
};

struct dispatcher_options {
  std::string owner;  // lease owner, unique per engine run
  int batch_size = 256;
  std::chrono::milliseconds lease{std::chrono::minutes(5)};
  std::chrono::milliseconds idle_poll{200};
  std::chrono::milliseconds heartbeat{std::chrono::seconds(5)};
  int max_attempts = 8;
  std::chrono::milliseconds backoff_base{std::chrono::seconds(2)};
  std::chrono::milliseconds backoff_max{std::chrono::minutes(10)};
  bool until_idle = false;               // return once nothing is due or in flight (see run())
  std::string public_url;                // base for status callbacks, or empty
  std::string default_timezone = "UTC";  // for recipients without a `tz`
  std::string quiet_hours;  // "21:00-08:00": marketing never goes out then (recipient time)
  // Messages deferred to a window's opening are spread over its first minutes (by message id),
  // so a million recipients do not all fall due in the same second.
  std::chrono::minutes window_spread{5};
  // The engine's frequency rules (tiers, calendars); null = none. Marketing only.
  std::shared_ptr<const cap_policy> caps;
};

struct dispatcher_stats {
  std::int64_t claimed = 0, submitted = 0, failed = 0, retried = 0, expired = 0, deferred = 0;
};

// Claims due messages from the store, renders them and submits them through carrier lanes.
//
// Per message: render (signature + text + opt-out hint) -> lane slot (concurrency) -> pacing
// token (segments) -> `submitting` made durable -> HTTP request -> verdict recorded. A verdict
// of retry_later or an ambiguous transport failure schedules a retry with exponential backoff;
// after max_attempts the message fails with the last reason.
//
// Threading: everything runs on `ex`, which must be a single-threaded io_context executor; the
// store, HTTP client, clock and lanes must outlive the dispatcher.
class dispatcher {
 public:
  dispatcher(boost::asio::any_io_executor ex, async_store& store, http_client& http, clock& clk,
             std::vector<lane_config> lanes, std::map<std::string, sender_profile> senders,
             dispatcher_options options);
  ~dispatcher();

  // Runs until stop() is called (then stops claiming and waits for in-flight sends), or, with
  // until_idle, until nothing is in flight and nothing is due: on a real clock, messages due
  // later are left scheduled (retries already backing off are waited for); on a simulated
  // clock, the clock jumps to the next due time, so every message reaches its end state.
  boost::asio::awaitable<void> run();

  // Stops claiming; run() returns once in-flight sends complete. Safe to call from the
  // executor's thread only (post to it from signal handlers).
  void stop();

  const dispatcher_stats& stats() const { return stats_; }
  int in_flight() const { return in_flight_; }

 private:
  struct lane_state;
  struct compiled_step;

  boost::asio::awaitable<void> submit_one(claimed_message m);
  boost::asio::awaitable<void> record(send_outcome outcome);
  boost::asio::awaitable<void> heartbeat_loop();
  boost::asio::awaitable<void> wait_for_change(std::chrono::milliseconds at_most);
  void notify_change();
  const compiled_step& compiled(const claimed_message& m);
  send_outcome retry_or_fail(const claimed_message& m, const std::string& lane,
                             std::chrono::milliseconds after, std::string reason);

  boost::asio::any_io_executor ex_;
  async_store& store_;
  http_client& http_;
  clock& clock_;
  std::map<std::string, std::unique_ptr<lane_state>> lanes_;
  std::map<std::string, sender_profile> senders_;
  std::map<std::string, std::unique_ptr<compiled_step>> templates_;
  dispatcher_options options_;
  dispatcher_stats stats_;
  int in_flight_ = 0;
  int capacity_ = 0;
  bool stopping_ = false;
  boost::asio::steady_timer wake_;
  boost::asio::steady_timer heartbeat_timer_;
  std::optional<clock_window> quiet_hours_;  // parsed once from options_.quiet_hours
};

}  // namespace pigeon::engine
