// Batch mode of the dispatcher: several messages of one lane in one carrier request, for codecs
// with max_batch() > 1 (carrier.hpp). One verdict per message; one store call marks the whole
// batch `submitting` before the request, one records every outcome after it.
//
// Each message task still takes its recipient's turn, chooses its lane (breaker) and holds the
// turn until its own verdict, so per-recipient order and failover work as in single mode. The
// message then queues on its lane; up to `concurrency` pumps per lane take up to max_batch()
// queued messages each, pace their segments together and send them. Batches form by themselves
// under load (the queue grows while every pump is busy) and an idle lane sends a lone message
// at once.

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <optional>

#include "engine/dispatch/dispatcher.hpp"

namespace pigeon::engine::dispatch {

namespace asio = boost::asio;
using asio::use_awaitable;

struct dispatcher::batch_item {
  const claimed_message* m;
  outbound_message out;
  int segments;
  circuit_breaker::permit permit;
  asio::steady_timer done;
  bool finished = false;
  bool settled = false;  // classify() recorded the permit's result
};

namespace {
void finish(auto* item) {
  item->finished = true;
  item->done.cancel();
}
}  // namespace

asio::awaitable<void> dispatcher::submit_batched(lane& l, const claimed_message& m,
                                                 outbound_message out, int segments,
                                                 circuit_breaker::permit permit) {
  const auto& name = l.config().name;
  if (!options_.public_url.empty())
    out.status_callback_url = options_.public_url + "/webhooks/" + name + "/status";
  // The trial goes back unless the batch recorded this message's verdict (stopped, not marked,
  // or a batch that failed before its request was answered).
  circuit_breaker::permit_guard held(l.breaker(), permit);
  batch_item item{&m, std::move(out), segments, permit, asio::steady_timer(ex_)};
  item.done.expires_at(asio::steady_timer::time_point::max());
  auto& queue = batches_[name];
  if (!queue) queue = std::make_unique<batch_queue>();
  queue->items.push_back(&item);
  if (queue->pumps < l.config().concurrency) {
    ++queue->pumps;
    asio::co_spawn(ex_, pump(name), [](std::exception_ptr e) {
      if (e) try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("batch pump stopped: {}", ex.what());
        }
    });
  }
  while (!item.finished) (void)co_await item.done.async_wait(asio::as_tuple(use_awaitable));
  if (item.settled) held.settled();
}

// A pump takes queued messages a batch at a time until the queue is empty. Whatever a batch
// throws (a store that cannot mark or record, a codec that cannot encode), every message of it
// is finished, so its task ends with the message in its stored state, and the pump goes on:
// a lane never keeps a pump (of `concurrency`) that will not send again.
asio::awaitable<void> dispatcher::pump(std::string lane_name) {
  lane& l = *lanes_.at(lane_name);
  batch_queue& queue = *batches_.at(lane_name);
  const auto max = std::max<std::size_t>(1, l.config().codec->max_batch());
  while (!queue.items.empty()) {
    std::vector<batch_item*> batch;
    int segments = 0;
    while (!queue.items.empty() && batch.size() < max) {
      batch.push_back(queue.items.front());
      segments += queue.items.front()->segments;
      queue.items.pop_front();
    }
    co_await l.acquire_slot();
    lane::slot_guard guard(l);
    co_await l.pace(segments);
    // A clean stop sends nothing new: these stay leased, run() releases them.
    if (!stopping_) {
      try {
        auto sending = send_batch(l, lane_name, batch);
        co_await std::move(sending);
      } catch (const std::exception& e) {
        spdlog::error("{}: a batch of {} messages failed: {} (they keep their stored state)",
                      lane_name, batch.size(), e.what());
      }
    }
    for (auto* item : batch) finish(item);
  }
  --queue.pumps;
}

asio::awaitable<void> dispatcher::send_batch(lane& l, const std::string& lane_name,
                                             std::vector<batch_item*>& batch) {
  std::vector<submit_intent> intents;
  intents.reserve(batch.size());
  for (auto* item : batch)
    intents.push_back(intent_for(*item->m, lane_name, item->out.text, item->segments));
  auto mark_op = mark_submitting(std::move(intents));
  auto marked = co_await std::move(mark_op);
  // Only the marked ones may go: the others were cancelled or paused since their claim.
  std::vector<batch_item*> going;
  std::vector<outbound_message> messages;
  for (auto* item : batch) {
    if (std::find(marked.begin(), marked.end(), item->m->id) != marked.end()) {
      going.push_back(item);
      messages.push_back(item->out);
      messages.back().now = clock_.now();
    } else {
      finish(item);
    }
  }
  batch = going;
  if (going.empty()) co_return;
  int going_segments = 0;
  for (auto* item : going) going_segments += item->segments;
  // A 429 may have paused the lane while the intents were stored; the shared rate; the wire's
  // ceiling. Not allowed to go: nothing left, each message is tried again later.
  auto readying = l.ready_to_send(going_segments);
  if (!co_await std::move(readying)) {
    std::vector<send_outcome> later;
    for (auto* item : going)
      later.push_back(retry_or_fail(*item->m, lane_name, std::chrono::milliseconds(0),
                                    "not sent: " + l.not_sent_reason()));
    auto recording = record_many(std::move(later));
    co_await std::move(recording);
    co_return;
  }

  std::optional<http_request> request;
  std::string cannot;
  try {
    request = l.config().codec->build_submit_batch(messages);
  } catch (const std::exception& e) {
    cannot = e.what();
  }
  if (!request) {
    std::vector<send_outcome> failed;
    for (auto* item : going) failed.push_back(unencodable(l, *item->m, cannot));
    auto recording = record_many(std::move(failed));
    co_await std::move(recording);
    co_return;
  }
  auto exchanging = exchange(l, std::move(*request));
  auto [ec, response, finished] = co_await std::move(exchanging);
  if (abandoned_) co_return;  // past the drain deadline: left `submitting` (see run())

  std::vector<submit_verdict> verdicts;
  std::string unread;
  if (!ec) {
    try {
      verdicts = l.config().codec->parse_submit_batch_reply(response, going.size());
      if (verdicts.size() != going.size()) {
        spdlog::error("{}: batch reply has {} verdicts for {} messages", lane_name, verdicts.size(),
                      going.size());
        unread = "reply does not match the batch";
      }
    } catch (const std::exception& e) {
      unread = unreadable_reply(l, response, e.what());
    }
  }
  std::vector<send_outcome> outcomes;
  outcomes.reserve(going.size());
  for (std::size_t i = 0; i < going.size(); ++i) {
    const submit_verdict* v = (!ec && unread.empty()) ? &verdicts[i] : nullptr;
    outcomes.push_back(
        classify(l, *going[i]->m, lane_name, ec, response, v, going[i]->permit, finished, unread));
    going[i]->settled = true;
  }
  auto recording = record_many(std::move(outcomes));
  co_await std::move(recording);
}

}  // namespace pigeon::engine::dispatch
