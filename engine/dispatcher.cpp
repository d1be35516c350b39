#include "engine/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

#include "engine/compose.hpp"
#include "engine/phone.hpp"
#include "engine/send_window.hpp"
#include "templates/segments.hpp"
#include "templates/template.hpp"

namespace pigeon::engine {

namespace asio = boost::asio;
using asio::use_awaitable;
using namespace std::chrono_literals;

// Concurrency slots and segment pacing of one lane. Pacing reserves send times in order:
// each send of k segments takes k/rate seconds of the lane's budget, so a lane never runs
// faster than its rate whatever its concurrency (limits count segments, not messages).
struct dispatcher::lane_state {
  lane_config config;
  int busy = 0;
  asio::steady_timer slot_freed;
  std::chrono::steady_clock::time_point next_send{};

  lane_state(asio::any_io_executor ex, lane_config c) : config(std::move(c)), slot_freed(ex) {
    slot_freed.expires_at(asio::steady_timer::time_point::max());
  }

  asio::awaitable<void> acquire_slot() {
    while (busy >= config.concurrency) {
      (void)co_await slot_freed.async_wait(asio::as_tuple(use_awaitable));
    }
    ++busy;
  }
  void release_slot() {
    --busy;
    slot_freed.cancel_one();
  }
  asio::awaitable<void> pace(int segments) {
    if (config.rate_per_second <= 0) co_return;
    auto now = std::chrono::steady_clock::now();
    auto start = std::max(now, next_send);
    next_send = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(segments / config.rate_per_second));
    if (start > now) {
      asio::steady_timer t(co_await asio::this_coro::executor, start);
      (void)co_await t.async_wait(asio::as_tuple(use_awaitable));
    }
  }
};

struct dispatcher::compiled_step {
  bool ok = false;
  std::string error;
  std::optional<templates::compiled_template> text, subject;
  std::optional<clock_window> window;  // the step's send window, parsed once
};

dispatcher::dispatcher(asio::any_io_executor ex, async_store& store, http_client& http, clock& clk,
                       std::vector<lane_config> lanes,
                       std::map<std::string, sender_profile> senders, dispatcher_options options)
    : ex_(ex),
      store_(store),
      http_(http),
      clock_(clk),
      senders_(std::move(senders)),
      options_(std::move(options)),
      wake_(ex),
      heartbeat_timer_(ex) {
  if (!options_.quiet_hours.empty()) quiet_hours_ = parse_window({}, options_.quiet_hours);
  for (auto& l : lanes) {
    capacity_ += l.concurrency;
    auto name = l.name;
    lanes_.emplace(name, std::make_unique<lane_state>(ex, std::move(l)));
  }
  // Claim no more than the lanes can start soon, so nothing waits in memory near its lease.
  capacity_ = std::clamp(capacity_, 1, 4096);
}

dispatcher::~dispatcher() = default;

void dispatcher::stop() {
  stopping_ = true;
  notify_change();
}

void dispatcher::notify_change() { wake_.cancel(); }

asio::awaitable<void> dispatcher::wait_for_change(std::chrono::milliseconds at_most) {
  wake_.expires_after(at_most);
  (void)co_await wake_.async_wait(asio::as_tuple(use_awaitable));
}

asio::awaitable<void> dispatcher::run() {
  asio::co_spawn(ex_, heartbeat_loop(), [](std::exception_ptr e) {
    if (e) try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("heartbeat stopped: {}", ex.what());
      }
  });
  while (!stopping_) {
    int free = capacity_ - in_flight_;
    if (free <= 0) {
      co_await wait_for_change(options_.idle_poll);
      continue;
    }
    auto now = clock_.now();
    std::function<std::vector<claimed_message>(store&)> claim =
        [now, n = std::min(free, options_.batch_size), until = now + options_.lease,
         owner = options_.owner](store& s) { return s.claim_due(now, n, until, owner); };
    auto claim_op = store_.async_run<std::vector<claimed_message>>(std::move(claim),
                                                                   asio::as_tuple(use_awaitable));
    auto [error, claimed] = co_await std::move(claim_op);
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        spdlog::error("claiming due messages failed: {}; retrying in 1s", e.what());
      }
      co_await wait_for_change(1s);
      continue;
    }
    if (!claimed.empty()) {
      stats_.claimed += static_cast<std::int64_t>(claimed.size());
      for (auto& m : claimed) {
        ++in_flight_;
        asio::co_spawn(ex_, submit_one(std::move(m)), [this](std::exception_ptr e) {
          --in_flight_;
          notify_change();
          if (e) try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              // The message keeps its durable state (leased or submitting) and is recovered
              // at the next start; nothing is lost.
              spdlog::error("send task failed: {}", ex.what());
            }
        });
      }
      continue;
    }
    if (in_flight_ > 0) {
      co_await wait_for_change(options_.idle_poll);
      continue;
    }
    // Idle: nothing claimable and nothing in flight.
    if (clock_.simulated()) {
      std::function<std::optional<time_point>(store&)> query = [](store& s) {
        return s.next_due();
      };
      auto op = store_.async_run<std::optional<time_point>>(std::move(query), use_awaitable);
      auto next = co_await std::move(op);
      if (next && *next > clock_.now()) {
        clock_.jump_to(*next);
        continue;
      }
      if (!next && options_.until_idle) break;
    } else if (options_.until_idle) {
      std::function<bool(store&)> query = [](store& s) {
        // Retries of active campaigns only: a paused campaign's retries wait for its resume.
        return !s.messages({.campaign = {},
                            .state = message_state::retry,
                            .limit = 1,
                            .active_campaigns_only = true})
                    .empty();
      };
      auto op = store_.async_run<bool>(std::move(query), use_awaitable);
      bool backing_off = co_await std::move(op);
      if (!backing_off) break;
    }
    co_await wait_for_change(options_.idle_poll);
  }
  while (in_flight_ > 0) co_await wait_for_change(options_.idle_poll);
  stopping_ = true;
  wake_.cancel();
  heartbeat_timer_.cancel();
  std::function<void(store&)> stopped = [owner = options_.owner](store& s) {
    s.engine_stopped(owner, system_clock().now());
  };
  auto op = store_.async_run<void>(std::move(stopped), use_awaitable);
  co_await std::move(op);
}

asio::awaitable<void> dispatcher::heartbeat_loop() {
  while (!stopping_) {
    auto now = system_clock().now();  // real time: on-call reads it, whatever the engine clock
    std::function<void(store&)> beat = [owner = options_.owner, now](store& s) {
      s.heartbeat(owner, now);
    };
    auto op = store_.async_run<void>(std::move(beat), use_awaitable);
    co_await std::move(op);
    heartbeat_timer_.expires_after(options_.heartbeat);
    (void)co_await heartbeat_timer_.async_wait(asio::as_tuple(use_awaitable));
  }
}

const dispatcher::compiled_step& dispatcher::compiled(const claimed_message& m) {
  auto key = m.campaign + '\x1f' + std::to_string(m.campaign_version) + '\x1f' + m.step + '\x1f' +
             m.variant;
  auto& slot = templates_[key];
  if (!slot) {
    slot = std::make_unique<compiled_step>();
    try {
      slot->text = templates::compiled_template::compile(m.tmpl.text);
      slot->subject = templates::compiled_template::compile(m.tmpl.subject);
      if (m.tmpl.has_window) slot->window = parse_window(m.tmpl.window_days, m.tmpl.window_between);
      slot->ok = true;
    } catch (const std::exception& e) {
      slot->error = std::string("template: ") + e.what();
    }
  }
  return *slot;
}

asio::awaitable<void> dispatcher::record(send_outcome outcome) {
  switch (outcome.state) {
    case message_state::submitted:
      ++stats_.submitted;
      break;
    case message_state::failed:
      ++stats_.failed;
      break;
    case message_state::retry:
      ++stats_.retried;
      break;
    case message_state::expired:
      ++stats_.expired;
      break;
    case message_state::deferred:
      ++stats_.deferred;
      break;
    default:
      break;
  }
  std::function<void(store&)> write = [o = std::move(outcome)](store& s) {
    s.record_outcomes({o});
  };
  auto op = store_.async_run<void>(std::move(write), use_awaitable);
  co_await std::move(op);
}

send_outcome dispatcher::retry_or_fail(const claimed_message& m, const std::string& lane,
                                       std::chrono::milliseconds after, std::string reason) {
  send_outcome o{m.id, message_state::retry, lane, {}, std::move(reason), {}, clock_.now()};
  int attempts = m.attempts + 1;
  if (attempts >= options_.max_attempts) {
    o.state = message_state::failed;
    o.reason = "gave up after " + std::to_string(attempts) + " attempts: " + o.reason;
    return o;
  }
  // Exponential backoff with a per-message spread (±20%) so a recovering carrier is not hit by
  // every retry at the same instant; a carrier's Retry-After is a floor.
  double exp = std::min<double>(options_.backoff_max.count(),
                                options_.backoff_base.count() * std::pow(2.0, attempts - 1));
  double spread = 0.8 + 0.4 * static_cast<double>((m.id * 2654435761u) % 1000) / 1000.0;
  auto backoff = std::chrono::milliseconds(static_cast<long long>(exp * spread));
  o.next_due = o.at + std::max(backoff, after);
  return o;
}

asio::awaitable<void> dispatcher::submit_one(claimed_message m) {
  auto now = clock_.now();
  auto sender = senders_.find(m.sender);
  if (m.expires && now >= *m.expires) {
    send_outcome early{
        m.id, message_state::expired, {}, {}, "validity passed at " + format_iso(*m.expires), {},
        now};
    co_await record(std::move(early));
    co_return;
  }
  if (!m.template_found) {
    send_outcome early{m.id,
                       message_state::failed,
                       {},
                       {},
                       "step " + m.step + " variant " + m.variant + " is not in campaign version " +
                           std::to_string(m.campaign_version),
                       {},
                       now};
    co_await record(std::move(early));
    co_return;
  }
  if (sender == senders_.end() || sender->second.route.empty() ||
      !lanes_.count(sender->second.route.front())) {
    send_outcome early{m.id,
                       message_state::failed,
                       {},
                       {},
                       "sender `" + m.sender + "` has no usable provider route",
                       {},
                       now};
    co_await record(std::move(early));
    co_return;
  }
  const auto& step = compiled(m);
  if (!step.ok) {
    send_outcome early{m.id, message_state::failed, {}, {}, step.error, {}, now};
    co_await record(std::move(early));
    co_return;
  }
  // Send window and quiet hours, in the recipient's local time. Transactional messages are
  // exempt from quiet hours, never from their own window.
  {
    const auto& tz = m.recipient.tz.empty() ? options_.default_timezone : m.recipient.tz;
    auto decision =
        check_window(now, tz, step.window, m.category == "marketing" ? quiet_hours_ : std::nullopt);
    if (!decision.open) {
      auto spread_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.window_spread).count();
      auto next = decision.next_open;
      if (spread_ms > 0)
        next +=
            std::chrono::milliseconds((m.id * 2654435761u) % static_cast<std::uint64_t>(spread_ms));
      send_outcome early{m.id, message_state::deferred, {}, {}, decision.reason, next, now};
      if (m.expires && next >= *m.expires) {
        early.state = message_state::expired;
        early.next_due.reset();
        early.reason = decision.reason + "; the next opening is after its validity (" +
                       format_iso(*m.expires) + ")";
      }
      co_await record(std::move(early));
      co_return;
    }
  }
  contact_variables vars(m.recipient);
  std::string rendered, subject;
  auto missing = step.text->render(vars, rendered);
  auto missing_subject = step.subject->render(vars, subject);
  missing.insert(missing.end(), missing_subject.begin(), missing_subject.end());
  if (!missing.empty()) {
    std::string names;
    for (const auto& n : missing) names += (names.empty() ? "" : ", ") + n;
    send_outcome early{
        m.id, message_state::failed, {}, {}, "missing attribute(s) with no default: " + names, {},
        now};
    co_await record(std::move(early));
    co_return;
  }
  bool marketing_sms = m.category == "marketing" && m.tmpl.kind == "sms";
  std::string text =
      compose_text(sender->second.signature, sender->second.opt_out_hint, marketing_sms, rendered);
  if (sender->second.smart_encoding && m.tmpl.kind == "sms") apply_smart_encoding(text);
  int segments = m.tmpl.kind == "sms" ? std::max(1, templates::count_segments(text).segments) : 1;
  if (m.tmpl.kind == "sms" && segments > sender->second.sms_max_segments) {
    send_outcome early{m.id,
                       message_state::failed,
                       {},
                       {},
                       "text needs " + std::to_string(segments) + " segments; sender `" + m.sender +
                           "` allows " + std::to_string(sender->second.sms_max_segments),
                       {},
                       now};
    co_await record(std::move(early));
    co_return;
  }

  const std::string& lane_name = sender->second.route.front();
  lane_state& lane = *lanes_.at(lane_name);
  co_await lane.acquire_slot();
  struct slot_guard {
    lane_state& l;
    ~slot_guard() { l.release_slot(); }
  } guard{lane};
  co_await lane.pace(segments);

  // Durable intent before the request leaves: after a crash this message is known to be
  // `submitting` (outcome unknown), never silently resent as if new.
  submit_intent intent_data{m.id, lane_name, text, segments, clock_.now(), {}};
  if (options_.caps && m.category == "marketing") {
    const auto& tz = m.recipient.tz.empty() ? options_.default_timezone : m.recipient.tz;
    intent_data.caps = options_.caps->rules_for(m.recipient, tz, intent_data.at);
  }
  std::function<bool(store&)> intent = [i = std::move(intent_data)](store& s) {
    return !s.mark_submitting({i}).empty();
  };
  auto intent_op = store_.async_run<bool>(std::move(intent), use_awaitable);
  if (!co_await std::move(intent_op)) co_return;  // cancelled or paused since the claim

  outbound_message out;
  out.id = m.id;
  out.to = m.recipient.phone;
  out.text = text;
  out.kind = m.tmpl.kind;
  out.subject = subject;
  out.media = m.tmpl.media;
  out.expires = m.expires;
  if (!options_.public_url.empty())
    out.status_callback_url = options_.public_url + "/webhooks/" + lane_name + "/status";
  auto request = lane.config.codec->build_submit(out);
  auto exchange = http_.async_perform(std::move(request), asio::as_tuple(use_awaitable));
  auto [ec, response] = co_await std::move(exchange);

  send_outcome outcome;
  if (ec) {
    // Connect failures never reached the carrier; timeouts and resets may have: the message is
    // retried and the ledger keeps both attempts, so a duplicate is traceable.
    outcome = retry_or_fail(m, lane_name, 0ms, std::string("transport: ") + ec.message());
    spdlog::warn("send {} to {} via {}: {}", m.id, mask_phone(m.recipient.phone), lane_name,
                 ec.message());
  } else {
    auto verdict = lane.config.codec->parse_submit_reply(response);
    if (auto* a = std::get_if<accepted>(&verdict)) {
      outcome = {m.id, message_state::submitted, lane_name, a->carrier_id, {}, {}, clock_.now()};
    } else if (auto* r = std::get_if<rejected>(&verdict)) {
      outcome = {m.id,
                 message_state::failed,
                 lane_name,
                 {},
                 "rejected " + r->code + (r->text.empty() ? "" : ": " + r->text),
                 {},
                 clock_.now()};
    } else {
      const auto& t = std::get<retry_later>(verdict);
      outcome = retry_or_fail(m, lane_name, t.after,
                              "carrier " + t.code + (t.text.empty() ? "" : ": " + t.text));
    }
  }
  co_await record(std::move(outcome));
}

}  // namespace pigeon::engine
