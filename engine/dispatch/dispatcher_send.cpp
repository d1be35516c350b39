// One send of one message: the attempt through the first lane of its route that takes traffic
// (breaker, slot, pacing, durable intent with cap rules, the request), then the verdict mapped
// onto the message's next state (retry with full-jitter backoff until expiry, or failure) and
// recorded. The claim loop and rendering are in dispatcher.cpp, batch sends in
// dispatcher_batch.cpp.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

#include "engine/dispatch/dispatcher.hpp"
#include "engine/model/phone.hpp"

namespace pigeon::engine::dispatch {

namespace asio = boost::asio;
using asio::use_awaitable;
using namespace std::chrono_literals;

submit_intent dispatcher::intent_for(const claimed_message& m, const std::string& lane,
                                     const std::string& body, int segments) const {
  submit_intent intent{m.id, lane, body, segments, clock_.now(), {}};
  // Frequency caps (marketing only) are counted by the store against the ledger, atomically
  // with the mark.
  if (options_.caps && m.category == "marketing") {
    const std::string tz(
        recipient_timezone(m.recipient.tz, m.recipient.phone, options_.default_timezone));
    intent.caps = options_.caps->rules_for(m.recipient, tz, intent.at);
  }
  return intent;
}

asio::awaitable<dispatcher::carrier_answer> dispatcher::exchange(lane& l, http_request request) {
  const auto started = std::chrono::steady_clock::now();
  auto op = http_.async_perform(std::move(request), asio::as_tuple(use_awaitable));
  auto [ec, response] = co_await std::move(op);
  carrier_answer answer{ec, std::move(response), std::chrono::steady_clock::now()};
  const auto took = answer.finished - started;
  l.add_latency(std::chrono::duration_cast<std::chrono::microseconds>(took));
  if (options_.on_response)
    options_.on_response(l.config().name,
                         std::chrono::duration_cast<std::chrono::milliseconds>(took),
                         !ec && answer.response.status < 500);
  co_return answer;
}

// The outcome of one request for one message: the verdict (or the transport error) mapped onto
// the message's next state, the lane's breaker and counters fed, a 429 pausing the lane.
send_outcome dispatcher::classify(lane& l, const claimed_message& m, const std::string& lane_name,
                                  const boost::system::error_code& ec,
                                  const http_response& response, const submit_verdict* verdict,
                                  circuit_breaker::permit permit, steady_time finished,
                                  const std::string& unread) {
  send_outcome outcome;
  bool carrier_fault = true;
  if (ec || !verdict) {
    // Connect failures never reached the carrier; timeouts and resets may have, and so may a
    // request whose reply could not be read: the message is retried and the ledger keeps both
    // attempts, so a duplicate is traceable.
    auto what = ec ? "transport: " + ec.message() : unread;
    outcome = retry_or_fail(m, lane_name, 0ms, what);
    spdlog::warn("send {} to {} via {}: {}", m.id, mask_phone(m.recipient.phone), lane_name, what);
  } else if (auto* a = std::get_if<accepted>(verdict)) {
    carrier_fault = false;
    outcome = {m.id, message_state::submitted, lane_name, a->carrier_id, {}, {}, clock_.now()};
  } else if (auto* r = std::get_if<rejected>(verdict)) {
    carrier_fault = r->blame == fault::carrier;
    outcome = {m.id,
               message_state::failed,
               lane_name,
               {},
               "rejected " + r->code + (r->text.empty() ? "" : ": " + r->text),
               {},
               clock_.now()};
    outcome.recipient_opted_out = r->recipient_opted_out;  // the store records the opt-out
  } else {
    const auto& t = std::get<retry_later>(*verdict);
    carrier_fault = t.blame == fault::carrier;
    if (response.status == 429 && !clock_.simulated()) {
      // Throttling concerns the whole lane, not just this message.
      auto pause = std::min<std::chrono::milliseconds>(t.after > 0ms ? t.after : 1000ms,
                                                       options_.max_lane_pause);
      l.pause_until(finished + pause);
    }
    outcome = retry_or_fail(m, lane_name, t.after,
                            "carrier " + t.code + (t.text.empty() ? "" : ": " + t.text));
  }
  l.breaker().record(carrier_fault, permit.trial, finished);
  if (carrier_fault) l.set_last_error(outcome.reason);
  switch (outcome.state) {
    case message_state::submitted:
      l.count_submitted();
      break;
    case message_state::retry:
      l.count_retried();
      break;
    default:
      l.count_failed();
      break;
  }
  return outcome;
}

send_outcome dispatcher::retry_or_fail(const claimed_message& m, const std::string& lane,
                                       std::chrono::milliseconds after, std::string reason,
                                       bool attempted) {
  send_outcome o{m.id, message_state::retry, lane, {}, std::move(reason), {}, clock_.now()};
  int attempts = m.attempts + (attempted ? 1 : 0);
  if (!m.expires && attempts >= options_.max_attempts) {
    o.state = message_state::failed;
    o.reason = "gave up after " + std::to_string(attempts) + " attempts: " + o.reason;
    return o;
  }
  // Full jitter spreads retries over the whole backoff interval, so a recovering carrier is not
  // hit by every retry at once; a carrier's Retry-After is a floor, and so is a tenth of the
  // base (no hot loop).
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  auto backoff = full_jitter_backoff(std::max(1, attempts), options_.backoff_base,
                                     options_.backoff_max, u01(jitter_));
  o.next_due = o.at + std::max({backoff, after, options_.backoff_base / 10});
  if (m.expires && *o.next_due >= *m.expires) {
    o.state = message_state::expired;
    o.next_due.reset();
    o.reason = "validity ends (" + format_iso(*m.expires) + ") before the next attempt after " +
               std::to_string(attempts) + " attempt(s): " + o.reason;
  }
  return o;
}

// A request the codec could not build: nothing was sent, so the message fails with the codec's
// reason rather than stay `submitting` (to be resent after a restart as an unknown outcome).
send_outcome dispatcher::unencodable(lane& l, const claimed_message& m, const std::string& why) {
  spdlog::error("send {} via {}: the request cannot be built: {}", m.id, l.config().name, why);
  l.count_failed();
  return {m.id,
          message_state::failed,
          l.config().name,
          {},
          "provider " + l.config().name + " cannot encode the message: " + why,
          {},
          clock_.now()};
}

// The reason of a reply the codec could not read (its parse threw), logged with the reply's
// status; the attempt is retried like a timeout (classify).
std::string dispatcher::unreadable_reply(lane& l, const http_response& response,
                                         const std::string& why) {
  spdlog::error("provider {}: the codec could not read a reply (HTTP {}): {}", l.config().name,
                response.status, why);
  return "provider " + l.config().name + " could not read the carrier's reply (HTTP " +
         std::to_string(response.status) + "): " + why;
}

// A flush that failed (a locked or full database, a write the store refused) does not leave a
// message in its last state until the next start: its outcome is stored again, after a delay
// doubling up to outcome_retry_max, for up to outcome_retry_for (or until the drain deadline
// abandons it). Meanwhile heartbeat_detail shows the messages waiting ("outcomes_unrecorded")
// and each failure is logged; the slot stays held, so a store that refuses everything slows the
// lanes instead of piling up messages whose outcome is unknown. Giving up rethrows: the message
// keeps its durable state (a sent one `submitting`, reconciled at the next start).
asio::awaitable<void> dispatcher::record_until_stored(std::vector<send_outcome> outcomes) {
  if (outcomes.empty()) co_return;
  const auto give_up = std::chrono::steady_clock::now() + options_.outcome_retry_for;
  auto delay = options_.outcome_retry_base;
  const auto n = static_cast<std::int64_t>(outcomes.size());
  struct waiting_count {  // this call's messages in unrecorded_ while it retries
    dispatcher& d;
    std::int64_t n = 0;
    ~waiting_count() {
      d.unrecorded_.messages -= n;
      if (d.unrecorded_.messages == 0) d.unrecorded_ = {};
    }
  } counted{*this};
  asio::steady_timer timer(ex_);
  for (int round = 1;; ++round) {
    std::exception_ptr error;
    try {
      auto storing = store_outcomes(outcomes);
      co_await std::move(storing);
      co_return;
    } catch (...) {
      error = std::current_exception();
    }
    std::string what = "unknown error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    if (counted.n == 0) {
      if (unrecorded_.messages == 0)
        unrecorded_.since = std::chrono::time_point_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now());
      unrecorded_.messages += n;
      counted.n = n;
    }
    unrecorded_.error = what;
    if (abandoned_ || std::chrono::steady_clock::now() + delay > give_up) {
      spdlog::error(
          "outcome of message {}{} not recorded after {} tries: {}; it keeps its stored state "
          "(a sent message stays submitting until the next start reconciles it)",
          outcomes.front().message_id, n > 1 ? " and " + std::to_string(n - 1) + " more" : "",
          round, what);
      std::rethrow_exception(error);
    }
    spdlog::warn("outcome of message {}{} not recorded: {}; storing it again in {} ms",
                 outcomes.front().message_id,
                 n > 1 ? " and " + std::to_string(n - 1) + " more" : "", what, delay.count());
    timer.expires_after(delay);
    retry_timers_.insert(&timer);  // cancelled when the drain deadline abandons the run
    (void)co_await timer.async_wait(asio::as_tuple(use_awaitable));
    retry_timers_.erase(&timer);
    delay = std::min(delay * 2, options_.outcome_retry_max);
  }
}

// One attempt through the first lane of the route that takes traffic.
asio::awaitable<void> dispatcher::attempt(const claimed_message& m, const sender_profile& sender,
                                          outbound_message out, int segments) {
  steady_time reopens = steady_time::max();
  for (const auto& lane_name : sender.route) {
    auto found = lanes_.find(lane_name);
    if (found == lanes_.end()) continue;
    lane& l = *found->second;
    auto permit = l.breaker().allow(std::chrono::steady_clock::now());
    if (!permit.allowed) {
      reopens = std::min(reopens, l.breaker().reopens_at());
      continue;
    }
    // A half-open circuit's trial goes back on every way out but a recorded verdict: a send
    // that ends early, fails over or throws must not leave the lane refusing for good.
    circuit_breaker::permit_guard held(l.breaker(), permit);
    if (auto refusal = l.config().codec->refuse(out)) {
      // This carrier can never take the message (e.g. more media than it allows).
      send_outcome refused{
          m.id,
          message_state::failed,
          lane_name,
          {},
          "rejected " + refusal->code + (refusal->text.empty() ? "" : ": ") + refusal->text,
          {},
          clock_.now()};
      co_await record(std::move(refused));
      co_return;
    }
    if (l.config().codec->max_batch() > 1) {
      held.settled();  // submit_batched holds it from here
      co_await submit_batched(l, m, std::move(out), segments, permit);
      co_return;
    }
    co_await l.acquire_slot();
    lane::slot_guard guard(l);
    co_await l.pace(segments);
    if (stopping_) co_return;  // a clean stop sends nothing new: leased, run() releases it
    if (!permit.trial &&
        l.breaker().state(std::chrono::steady_clock::now()) != circuit_state::closed) {
      // The circuit opened while this message waited for its turn: fail over.
      reopens = std::min(reopens, l.breaker().reopens_at());
      continue;
    }

    // Durable intent before the request leaves: after a crash this message is known to be
    // `submitting` (outcome unknown), never silently resent as if new.
    // Grouped with other messages' intents (dispatcher_commit.cpp); resumes once ours committed.
    std::vector<submit_intent> intent;
    intent.push_back(intent_for(m, lane_name, out.text, segments));
    auto intent_op = mark_submitting(std::move(intent));
    // Cancelled or paused since the claim: nothing to send. A store that failed throws: the
    // message stays leased (released at stop, or claimable when its lease runs out).
    if ((co_await std::move(intent_op)).empty()) co_return;

    // A 429 may have paused the lane while the intent was stored; sends held up together (a
    // slow commit) leave under the wire's ceiling, not in the same instant; a shared rate's
    // tokens are taken here. Not allowed to go (the shared budget out of reach, or the run
    // abandoned): nothing left, the message is tried again later.
    auto readying = l.ready_to_send(segments);
    if (!co_await std::move(readying)) {
      auto outcome = retry_or_fail(m, lane_name, 0ms, "not sent: " + l.not_sent_reason());
      co_await record(std::move(outcome));
      co_return;
    }
    if (!options_.public_url.empty())
      out.status_callback_url = options_.public_url + "/webhooks/" + lane_name + "/status";
    out.now = clock_.now();  // codecs are clock-free: relative validity and signatures use this
    std::optional<http_request> request;
    std::string cannot;
    try {
      request = l.config().codec->build_submit(out);
    } catch (const std::exception& e) {
      cannot = e.what();
    }
    if (!request) {
      auto recording = record(unencodable(l, m, cannot));
      co_await std::move(recording);
      co_return;
    }
    auto exchanging = exchange(l, std::move(*request));
    auto [ec, response, finished] = co_await std::move(exchanging);
    if (abandoned_) co_return;  // past the drain deadline: left `submitting` (see run())

    std::optional<submit_verdict> verdict;
    std::string unread;
    if (!ec) {
      // A codec MUST classify every reply; one that throws instead (a bug) must not leave the
      // message `submitting` until the next start.
      try {
        verdict = l.config().codec->parse_submit_reply_for(out, response);
      } catch (const std::exception& e) {
        unread = unreadable_reply(l, response, e.what());
      }
    }
    auto outcome = classify(l, m, lane_name, ec, response, verdict ? &*verdict : nullptr, permit,
                            finished, unread);
    held.settled();  // classify recorded the trial's result
    // The slot is held until the outcome is durable: a message answered but not yet recorded is
    // still `submitting` and would be resent after a crash, so the lane's concurrency bounds
    // those messages too (the documented duplicate window).
    co_await record(std::move(outcome));
    co_return;
  }
  // Every provider of the route has its circuit open: wait for the first half-open trial.
  auto wait = reopens == steady_time::max() ? options_.backoff_base
                                            : std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  reopens - std::chrono::steady_clock::now());
  std::string why;
  for (const auto& name : sender.route)
    if (auto found = lanes_.find(name); found != lanes_.end())
      why += (why.empty() ? "" : "; ") + name + ": " + found->second->last_error();
  auto outcome = retry_or_fail(m, {}, std::max(wait, 0ms),
                               "circuit open on every provider of the route (" + why + ")", false);
  co_await record(std::move(outcome));
}

}  // namespace pigeon::engine::dispatch
