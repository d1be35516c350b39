#include "engine/dispatch/dispatcher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <set>

#include "engine/campaign/ab_decision.hpp"
#include "engine/campaign/calendar.hpp"
#include "engine/campaign/compose.hpp"
#include "engine/dispatch/media_files.hpp"
#include "engine/model/phone.hpp"
#include "engine/policy/send_window.hpp"
#include "templates/segments.hpp"
#include "templates/template.hpp"

namespace pigeon::engine::dispatch {

namespace asio = boost::asio;
using asio::use_awaitable;
using campaign::decide_ab_tests;
using namespace std::chrono_literals;

// A recipient's turn: tickets taken in claim order (before the task's first suspension), served
// one at a time. Erased once nobody holds or waits for a ticket.
struct dispatcher::recipient_queue {
  std::uint64_t next = 0, serving = 0;
  std::set<std::uint64_t> abandoned;  // tickets whose task ended before its turn
  asio::steady_timer turn;
  explicit recipient_queue(asio::any_io_executor ex) : turn(ex) {
    turn.expires_at(asio::steady_timer::time_point::max());
  }
};

class dispatcher::recipient_turn {
 public:
  recipient_turn(dispatcher& d, const std::string& phone) : d_(d), phone_(phone) {
    auto& q = d.recipients_[phone];
    if (!q) q = std::make_unique<recipient_queue>(d.ex_);
    queue_ = q.get();
    ticket_ = queue_->next++;
  }
  ~recipient_turn() {
    // A task that ends before its turn (expired, deferred, failed to render) leaves its ticket
    // behind instead of advancing the turn of the message still being sent.
    if (queue_->serving == ticket_)
      ++queue_->serving;
    else
      queue_->abandoned.insert(ticket_);
    while (queue_->abandoned.erase(queue_->serving) > 0) ++queue_->serving;
    if (queue_->serving == queue_->next)
      d_.recipients_.erase(phone_);
    else
      queue_->turn.cancel();  // the waiters check whose turn it is
  }
  recipient_turn(const recipient_turn&) = delete;
  recipient_turn& operator=(const recipient_turn&) = delete;

  asio::awaitable<void> wait() {
    while (queue_->serving != ticket_)
      (void)co_await queue_->turn.async_wait(asio::as_tuple(use_awaitable));
  }

 private:
  dispatcher& d_;
  std::string phone_;
  recipient_queue* queue_;
  std::uint64_t ticket_;
};

struct dispatcher::compiled_step {
  bool ok = false;
  std::string error;
  std::optional<templates::compiled_template> text, subject;
  std::optional<policy::clock_window> window;  // the step's send window, parsed once
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
  if (!options_.quiet_hours.empty()) quiet_hours_ = policy::parse_window({}, options_.quiet_hours);
  jitter_.seed(options_.jitter_seed ? options_.jitter_seed : std::random_device{}());
  for (auto& l : lanes) {
    // A batch lane keeps up to concurrency × max_batch messages busy; twice that, so slots stay
    // busy while answered messages wait for their outcome to be recorded.
    capacity_ +=
        2 * l.concurrency *
        static_cast<int>(std::clamp<std::size_t>(l.codec ? l.codec->max_batch() : 1, 1, 1000));
    auto name = l.name;
    auto made = std::make_unique<lane>(ex, std::move(l), options_.breaker);
    if (options_.shared_rate && made->bucket().rate() > 0) made->share_rate(options_.shared_rate);
    lanes_.emplace(name, std::move(made));
  }
  // Claim no more than the lanes can start soon, so nothing waits in memory near its lease.
  capacity_ = std::clamp(capacity_, 1, 4096);
}

dispatcher::~dispatcher() = default;

std::vector<lane_snapshot> dispatcher::lanes() const {
  std::vector<lane_snapshot> out;
  out.reserve(lanes_.size());
  for (const auto& [name, l] : lanes_) out.push_back(l->snapshot());
  return out;
}

void dispatcher::stop() {
  stopping_ = true;
  notify_change();
}

void dispatcher::notify_change() { wake_.cancel(); }

void dispatcher::reload(const std::string& quiet_hours,
                        const std::map<std::string, std::pair<double, double>>& lane_rates) {
  std::optional<policy::clock_window> parsed;
  if (!quiet_hours.empty()) parsed = policy::parse_window({}, quiet_hours);
  quiet_hours_ = parsed;
  options_.quiet_hours = quiet_hours;
  for (const auto& [name, rate] : lane_rates)
    if (auto found = lanes_.find(name); found != lanes_.end())
      found->second->set_rate(rate.first, rate.second);
  notify_change();
}

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
  std::optional<time_point> tick_next;  // when options_.tick next has work
  bool last_pass = false;               // the claim made once the clock reached `until`
  while (!stopping_) {
    if (options_.until && clock_.now() >= *options_.until) {
      // One more pass at `until` (what falls due then, A/B decisions then), then stop.
      if (last_pass) {
        spdlog::info("the clock reached --until {}: stopping", format_iso(*options_.until));
        break;
      }
      last_pass = true;
    }
    int free = capacity_ - in_flight_;
    if (free <= 0) {
      co_await wait_for_change(options_.idle_poll);
      continue;
    }
    auto now = clock_.now();
    using claim_result = std::pair<std::vector<claimed_message>, std::optional<time_point>>;
    std::function<claim_result(store&)> claim =
        [now, n = std::min(free, options_.batch_size), until = now + options_.lease,
         owner = options_.owner, tick = options_.tick](store& s) {
          std::optional<time_point> next;
          if (tick) next = tick(s, now);  // journeys' rollovers, before their messages are due
          for (const auto& d : decide_ab_tests(s, now))  // ab_test: {then: winner}, if due
            spdlog::info("campaign {}: A/B decision: {} ({} messages switched)", d.campaign,
                         d.reason, d.switched);
          return claim_result{s.claim_due(now, n, until, owner), next};
        };
    auto claim_op = store_.async_run<claim_result>(std::move(claim), asio::as_tuple(use_awaitable));
    auto [error, result] = co_await std::move(claim_op);
    auto& claimed = result.first;
    if (!error) tick_next = result.second;
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        if (claim_trouble_.failures++ == 0)
          claim_trouble_.since = std::chrono::time_point_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now());
        claim_trouble_.error = e.what();
        spdlog::error("claiming due messages failed{}: {}; retrying in 1s",
                      claim_trouble_.failures > 1
                          ? " (" + std::to_string(claim_trouble_.failures) + " times in a row)"
                          : std::string(),
                      e.what());
      }
      co_await wait_for_change(1s);
      continue;
    }
    claim_trouble_ = {};
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
      // Journeys' next rollover keeps a run going when it has an end (--until) or no
      // --until-idle; --until-idle alone ends once the queue is done.
      if (tick_next && (options_.until || !options_.until_idle))
        next = next ? std::min(*next, *tick_next) : *tick_next;
      // A bounded run goes on to its bound even when nothing is due before it.
      if (options_.until && (!next || *next > *options_.until)) next = options_.until;
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
  // Drain: requests already sent get until drain_timeout to answer; then they are abandoned
  // (their messages stay `submitting`, recovered as unknown outcomes at the next start).
  auto drain_deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < drain_deadline)
    co_await wait_for_change(options_.idle_poll);
  if (in_flight_ > 0) {
    abandoned_ = true;
    spdlog::warn("drain timeout: {} sends still in flight are abandoned (left submitting)",
                 in_flight_);
    for (auto* t : retry_timers_) t->cancel();  // outcomes waiting to be stored again give up
    for (auto& [name, l] : lanes_) l->close();  // sends waiting for the shared rate give up
  }
  stopping_ = true;
  wake_.cancel();
  heartbeat_timer_.cancel();
  // Nothing stays leased: claimed but never marked messages go back to the queue.
  std::function<void(store&)> stopped = [owner = options_.owner](store& s) {
    if (auto n = s.release_leases(owner)) spdlog::info("released {} leased messages", n);
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
    // A failed beat (database locked, disk full) is logged and retried at the next one.
    auto op = store_.async_run<void>(std::move(beat), asio::as_tuple(use_awaitable));
    auto [error] = co_await std::move(op);
    if (error) try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        spdlog::warn("heartbeat not recorded: {}", e.what());
      }
    if (options_.after_heartbeat && !stopping_) {
      std::function<void(store&)> watch = [fn = options_.after_heartbeat, now](store& s) {
        fn(s, now);
      };
      auto watching = store_.async_run<void>(std::move(watch), asio::as_tuple(use_awaitable));
      auto [watch_error] = co_await std::move(watching);
      if (watch_error) try {
          std::rethrow_exception(watch_error);
        } catch (const std::exception& e) {
          spdlog::warn("watching the other nodes failed: {}", e.what());
        }
    }
    // Stopped while this beat was being stored: run() cancelled a timer nobody waited on, and
    // a new one would hold the executor (and the exit) for a whole interval.
    if (stopping_) break;
    heartbeat_timer_.expires_after(options_.heartbeat);
    (void)co_await heartbeat_timer_.async_wait(asio::as_tuple(use_awaitable));
  }
}

std::optional<claim_failure> dispatcher::claim_failing() const {
  if (claim_trouble_.failures < claim_failures_critical) return std::nullopt;
  return claim_trouble_;
}

std::optional<unrecorded_outcomes> dispatcher::outcomes_unrecorded() const {
  if (unrecorded_.messages == 0) return std::nullopt;
  return unrecorded_;
}

std::string dispatcher::heartbeat_detail() const {
  auto lanes = lanes_json(this->lanes());
  auto failing = claim_failing();
  auto unrecorded = outcomes_unrecorded();
  if (!failing && !unrecorded) return lanes;
  boost::json::object detail;
  if (failing)
    detail["claim_failing"] = {{"failures", failing->failures},
                               {"since", format_iso(failing->since)},
                               {"error", failing->error}};
  if (unrecorded)
    detail["outcomes_unrecorded"] = {{"messages", unrecorded->messages},
                                     {"since", format_iso(unrecorded->since)},
                                     {"error", unrecorded->error}};
  boost::system::error_code ec;
  detail["lanes"] = boost::json::parse(lanes, ec);
  return boost::json::serialize(detail);
}

const dispatcher::compiled_step& dispatcher::compiled(const claimed_message& m) {
  // Direct messages (replies: step "reply:<id>") are keyed by their content, so the cache holds
  // one entry per distinct configured reply text, not one per reply ever sent.
  const bool direct = m.step.starts_with("reply:") && !m.tmpl.has_window;
  auto key = direct ? "\x1e" + m.tmpl.text + '\x1f' + m.tmpl.subject
                    : m.campaign + '\x1f' + std::to_string(m.campaign_version) + '\x1f' + m.step +
                          '\x1f' + m.variant;
  auto& slot = templates_[key];
  if (!slot) {
    slot = std::make_unique<compiled_step>();
    try {
      slot->text = templates::compiled_template::compile(m.tmpl.text);
      slot->subject = templates::compiled_template::compile(m.tmpl.subject);
      if (m.tmpl.has_window)
        slot->window = policy::parse_window(m.tmpl.window_days, m.tmpl.window_between);
      slot->ok = true;
    } catch (const std::exception& e) {
      slot->error = std::string("template: ") + e.what();
    }
  }
  return *slot;
}

asio::awaitable<void> dispatcher::submit_one(claimed_message m) {
  // Taken before the first suspension, so tickets follow the claim order.
  recipient_turn turn(*this, m.recipient.phone);
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
  if (sender == senders_.end() ||
      std::none_of(sender->second.route.begin(), sender->second.route.end(),
                   [this](const std::string& l) { return lanes_.count(l) > 0; })) {
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
    const std::string tz(
        recipient_timezone(m.recipient.tz, m.recipient.phone, options_.default_timezone));
    auto decision = policy::check_window(now, tz, step.window,
                                         m.category == "marketing" ? quiet_hours_ : std::nullopt);
    if (!decision.open) {
      auto spread_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(options_.window_spread).count();
      auto next = decision.next_open;
      // Knuth's multiplicative hash, in unsigned 64-bit arithmetic: ids past 2^32 would
      // overflow a signed product (undefined behaviour).
      if (spread_ms > 0)
        next += std::chrono::milliseconds(
            static_cast<std::int64_t>((static_cast<std::uint64_t>(m.id) * 2654435761u) %
                                      static_cast<std::uint64_t>(spread_ms)));
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
  // Derived `<x>_years`/`_months` count to a journey's anchor day, else to today (UTC).
  std::optional<std::chrono::year_month_day> as_of;
  if (auto* anchor = m.context.if_contains("anchor"); anchor && anchor->is_string())
    as_of = campaign::parse_day_text(anchor->get_string());
  if (!as_of) as_of = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now)};
  campaign::contact_variables vars(m.recipient, &m.context, as_of);
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
  std::string text = campaign::compose_text(sender->second.signature, sender->second.opt_out_hint,
                                            marketing_sms, rendered);
  if (sender->second.smart_encoding && m.tmpl.kind == "sms") campaign::apply_smart_encoding(text);
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

  outbound_message out;
  out.id = m.id;
  out.to = m.recipient.phone;
  out.text = std::move(text);
  out.kind = m.tmpl.kind;
  out.subject = std::move(subject);
  // Local media go out as URLs the webhooks listener serves (engine/dispatch/media_files.hpp).
  std::string media_error;
  auto media = media_for_sending(m.tmpl.media, options_.public_url, media_error);
  if (!media) {
    send_outcome early{m.id, message_state::failed, {}, {}, std::move(media_error), {}, now};
    co_await record(std::move(early));
    co_return;
  }
  out.media = std::move(*media);
  out.expires = m.expires;
  co_await turn.wait();
  co_await attempt(m, sender->second, std::move(out), segments);
}

}  // namespace pigeon::engine::dispatch
