#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/dispatch/lane.hpp"
#include "engine/model/carrier.hpp"
#include "engine/model/clock.hpp"
#include "engine/model/http.hpp"
#include "engine/policy/caps.hpp"
#include "engine/policy/send_window.hpp"
#include "engine/store/async_store.hpp"

namespace pigeon::engine::dispatch {

struct sender_profile {
  std::string signature;
  std::string opt_out_hint;
  int sms_max_segments = 1;  // a longer text fails rather than going out split or truncated
  bool smart_encoding = false;
  std::vector<std::string> route;  // lane names in failover order
};

struct dispatcher_options {
  std::string owner;  // lease owner, unique per engine run
  int batch_size = 256;
  std::chrono::milliseconds lease{std::chrono::minutes(5)};
  std::chrono::milliseconds idle_poll{200};
  std::chrono::milliseconds heartbeat{std::chrono::seconds(5)};
  // Transient failures are retried until the message's expiry; max_attempts is the safety net
  // for messages without one (their last failure then fails them).
  int max_attempts = 8;
  std::chrono::milliseconds backoff_base{std::chrono::seconds(2)};  // full-jitter exponential
  std::chrono::milliseconds backoff_max{std::chrono::minutes(10)};
  std::uint64_t jitter_seed = 0;  // 0: random; else a fixed seed (tests)
  breaker_config breaker;         // per provider
  // The longest a 429's Retry-After pauses a whole lane in memory (the throttled message itself
  // is rescheduled after the full Retry-After). Not applied on a simulated clock.
  std::chrono::milliseconds max_lane_pause{std::chrono::seconds(60)};
  bool until_idle = false;               // return once nothing is due or in flight (see run())
  std::string public_url;                // base for status callbacks, or empty
  std::string default_timezone = "UTC";  // for recipients without a `tz`
  std::string quiet_hours;  // "21:00-08:00": marketing never goes out then (recipient time)
  // Messages deferred to a window's opening are spread over its first minutes (by message id),
  // so a million recipients do not all fall due in the same second.
  std::chrono::seconds window_spread{300};  // engine config policy.window_spread
  // After stop(): how long requests already sent may take to answer before they are abandoned.
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(10)};
  // An outcome the store failed to record (its flush threw) is retried, doubling from
  // outcome_retry_base up to outcome_retry_max, for up to outcome_retry_for; the message stays
  // `submitting` meanwhile (heartbeat_detail shows it), and after that until the next start.
  std::chrono::milliseconds outcome_retry_base{100};
  std::chrono::milliseconds outcome_retry_max{std::chrono::seconds(5)};
  std::chrono::milliseconds outcome_retry_for{std::chrono::minutes(1)};
  // Called on the executor after each carrier answer (or transport failure, ok = false): for
  // metrics. Optional.
  std::function<void(const std::string& lane, std::chrono::milliseconds latency, bool ok)>
      on_response;
  // The engine's frequency rules (tiers, calendars); null = none. Marketing only.
  std::shared_ptr<const policy::cap_policy> caps;
  // Time-driven work run on the store's thread before each claim (lifecycle journeys' daily
  // rollover): returns when it next has work, or nullopt. Optional. On a simulated clock that
  // is a time to jump to like a due message, except that with until_idle alone (no `until`) it
  // does not keep the run going.
  std::function<std::optional<time_point>(store&, time_point now)> tick;
  // Stop claiming once the clock reaches this instant (`serve --until T`); a simulated clock
  // never jumps past it.
  std::optional<time_point> until;
  // Several nodes on one database (PostgreSQL): every paced lane takes its segments from the
  // provider's budget shared by all nodes (engine/dispatch/rate_budget.hpp), so a provider's
  // rate holds across them. Null: each lane paces alone (SQLite: one engine per file).
  std::shared_ptr<budget_thread> shared_rate;
  // Run on the store's thread after each heartbeat, in a job of its own, with the real time:
  // the survivors' watch over the other nodes (serve: a node silent for 15 s has its work
  // recovered). Optional; a failure is logged and tried again at the next heartbeat.
  std::function<void(store&, time_point now)> after_heartbeat;
};

struct dispatcher_stats {
  std::int64_t claimed = 0, submitted = 0, failed = 0, retried = 0, expired = 0, deferred = 0;
  // Store jobs that made intents durable / recorded outcomes (each for a group of messages).
  std::int64_t intent_flushes = 0, outcome_flushes = 0;
};

// Claiming due messages that keeps failing (a store that cannot be read): from this many
// failures in a row (one a second), a critical alert in `pigeon status` and a 503 from /healthz,
// until a claim succeeds.
inline constexpr int claim_failures_critical = 3;

struct claim_failure {
  int failures = 0;    // in a row
  time_point since{};  // the first of them, wall clock
  std::string error;   // the last one
};

// Messages whose outcome the store failed to record and that are waiting to store it again
// (dispatcher_options::outcome_retry_*); a sent one stays `submitting` meanwhile.
struct unrecorded_outcomes {
  std::int64_t messages = 0;
  time_point since{};  // the first failure of the current run of them, wall clock
  std::string error;   // the last one
};

// Claims due messages from the store, renders them and submits them through carrier lanes.
//
// Per message: render (signature + text + opt-out hint) -> the recipient's turn -> lane choice
// (the first provider of the sender's route whose circuit is not open) -> lane slot
// (concurrency) -> pacing tokens (segments) -> `submitting` made durable -> HTTP request ->
// verdict recorded. A retry_later verdict or a transport failure schedules a retry with
// full-jitter exponential backoff (a Retry-After is a floor) until the message's expiry, or up
// to max_attempts for a message without one; a rejection is final. A 429 also pauses the whole
// lane for its Retry-After and restarts it at half rate. Carrier faults (transport errors, 5xx,
// 429, authentication: verdict blame fault::carrier) feed the lane's circuit breaker; while it
// is open, messages go to the next provider of their route, or wait for the breaker's
// half-open trial when none is left.
//
// Ordering per recipient: within one dispatcher, a recipient has at most one message between
// lane choice and verdict, and its messages take their turn in claim order (due time, id). So
// a later message never overtakes an earlier one through a faster lane; an earlier message that
// goes back to `retry` may be overtaken by later ones, since it is due again only later.
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

  // Stops claiming; messages claimed but not yet sent stay `leased` and are released back to
  // `scheduled`; run() returns once requests in flight complete or drain_timeout passes (then
  // they are abandoned: their messages stay `submitting`, and the caller should cancel the HTTP
  // client's transfers). Safe to call from the executor's thread only (post to it from signal
  // handlers).
  void stop();

  // Live reload (SIGHUP): new quiet hours ("" = none) and, per lane name, a new rate and burst
  // in segments per second (lanes not named keep theirs). Executor thread only. The config
  // loader has validated quiet_hours; a malformed one would lift quiet hours, so callers pass
  // only validated text.
  void reload(const std::string& quiet_hours,
              const std::map<std::string, std::pair<double, double>>& lane_rates);

  const dispatcher_stats& stats() const { return stats_; }
  // The lane named `name` (tests put its breaker in a state before run()). Throws if unknown.
  lane& lane_for_test(const std::string& name) { return *lanes_.at(name); }
  int in_flight() const { return in_flight_; }
  // Compiled templates held: one per campaign step and variant, one per distinct reply text.
  std::size_t compiled_templates() const { return templates_.size(); }
  // Every lane's state, for status and metrics. Call on the executor's thread.
  std::vector<lane_snapshot> lanes() const;
  // Set while claiming has failed claim_failures_critical times in a row. Executor thread only.
  std::optional<claim_failure> claim_failing() const;
  // Set while some outcomes wait to be stored again. Executor thread only.
  std::optional<unrecorded_outcomes> outcomes_unrecorded() const;
  // What the engine stores with its heartbeat for `pigeon status`: lanes_json(lanes()), wrapped
  // as {"lanes": [...], "claim_failing": {...}, "outcomes_unrecorded": {...}} while
  // claim_failing() or outcomes_unrecorded() (status_report reads it).
  std::string heartbeat_detail() const;

 private:
  struct compiled_step;
  struct batch_item;
  struct batch_queue {  // one lane's messages waiting for a batch (dispatcher_batch.cpp)
    std::deque<batch_item*> items;
    int pumps = 0;
  };
  struct recipient_queue;
  class recipient_turn;

  boost::asio::awaitable<void> submit_one(claimed_message m);
  // Group commit (dispatcher_commit.cpp, engine/store/group_commit.hpp): the intents and outcomes
  // of many messages go to the store in one job, sent when the previous job completed; each call
  // resumes once the job holding its items committed, and rethrows that job's failure (of its
  // own kind).
  struct committer;
  committer& commits();
  // The ids of `intents` that were marked `submitting` (the others were cancelled, paused,
  // suppressed or stopped by a send policy since their claim).
  boost::asio::awaitable<std::vector<std::int64_t>> mark_submitting(
      std::vector<submit_intent> intents);
  boost::asio::awaitable<void> record(send_outcome outcome);
  boost::asio::awaitable<void> record_many(std::vector<send_outcome> outcomes);
  // Joins the next outcome flush and resumes once it committed; rethrows its failure.
  boost::asio::awaitable<void> store_outcomes(std::vector<send_outcome> outcomes);
  // store_outcomes, again after a failure, within outcome_retry_for (dispatcher_send.cpp).
  boost::asio::awaitable<void> record_until_stored(std::vector<send_outcome> outcomes);
  // Batch mode (codec max_batch() > 1, dispatcher_batch.cpp): the message joins its lane's
  // queue and waits for the verdict; up to `concurrency` pumps per lane each send up to
  // max_batch() queued messages in one request.
  boost::asio::awaitable<void> submit_batched(lane& l, const claimed_message& m,
                                              outbound_message out, int segments,
                                              circuit_breaker::permit permit);
  boost::asio::awaitable<void> pump(std::string lane_name);
  // One batch through `l`: intents, request, verdicts, outcomes. Items that leave the batch
  // early (not marked) are finished and taken out of `batch`; the caller finishes the rest,
  // whatever this threw.
  boost::asio::awaitable<void> send_batch(lane& l, const std::string& lane_name,
                                          std::vector<batch_item*>& batch);
  // No `verdict` without a transport error: the reply could not be read (`unread` says why);
  // like a timeout, the message is retried and the ledger keeps both attempts.
  send_outcome classify(lane& l, const claimed_message& m, const std::string& lane_name,
                        const boost::system::error_code& ec, const http_response& response,
                        const submit_verdict* verdict, circuit_breaker::permit permit,
                        steady_time finished, const std::string& unread = {});
  // The outcome's reason for a reply the codec could not read (its parse threw), logged once
  // per reply as an error (classify then warns per message, as for a transport error).
  static std::string unreadable_reply(lane& l, const http_response& response,
                                      const std::string& why);
  // The failed outcome of a message whose request the codec could not build (it threw).
  send_outcome unencodable(lane& l, const claimed_message& m, const std::string& why);
  boost::asio::awaitable<void> heartbeat_loop();
  boost::asio::awaitable<void> wait_for_change(std::chrono::milliseconds at_most);
  void notify_change();
  // The intent recorded before a send through `lane`, with the recipient's cap rules.
  submit_intent intent_for(const claimed_message& m, const std::string& lane,
                           const std::string& body, int segments) const;
  // One request through the HTTP client: the carrier's answer (or the transport error) and
  // when it came, the lane's latency and the on_response hook fed.
  struct carrier_answer {
    boost::system::error_code ec;
    http_response response;
    steady_time finished;
  };
  boost::asio::awaitable<carrier_answer> exchange(lane& l, http_request request);
  const compiled_step& compiled(const claimed_message& m);
  boost::asio::awaitable<void> attempt(const claimed_message& m, const sender_profile& sender,
                                       outbound_message out, int segments);
  send_outcome retry_or_fail(const claimed_message& m, const std::string& lane,
                             std::chrono::milliseconds after, std::string reason,
                             bool attempted = true);

  boost::asio::any_io_executor ex_;
  async_store& store_;
  http_client& http_;
  clock& clock_;
  std::map<std::string, std::unique_ptr<lane>> lanes_;
  std::unordered_map<std::string, std::unique_ptr<recipient_queue>> recipients_;
  std::map<std::string, std::unique_ptr<batch_queue>> batches_;  // lanes in batch mode
  std::mt19937_64 jitter_;
  std::map<std::string, sender_profile> senders_;
  std::map<std::string, std::unique_ptr<compiled_step>> templates_;
  dispatcher_options options_;
  dispatcher_stats stats_;
  claim_failure claim_trouble_;  // failures == 0: the last claim succeeded
  unrecorded_outcomes unrecorded_;
  std::set<boost::asio::steady_timer*>
      retry_timers_;  // outcome retries waiting (cancel at abandon)
  int in_flight_ = 0;
  int capacity_ = 0;
  bool stopping_ = false;
  bool abandoned_ = false;  // drain timed out: late answers are not recorded
  boost::asio::steady_timer wake_;
  boost::asio::steady_timer heartbeat_timer_;
  std::optional<policy::clock_window> quiet_hours_;  // parsed once from options_.quiet_hours
  std::shared_ptr<committer> commits_;               // created on first use
};

}  // namespace pigeon::engine::dispatch
