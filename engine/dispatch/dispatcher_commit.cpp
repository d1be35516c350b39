// Group commit at the dispatcher (engine/store/group_commit.hpp): every message's `submitting`
// intent and its outcome go to the store as items of one group_commit, whose jobs carry both kinds
// together (one record_outcomes and one mark_submitting call over all their items, one
// transaction), a job as soon as the previous one has completed. Under load a job carries
// everything that queued while the previous one was being committed; an idle dispatcher sends a
// lone message at once.
//
// A message's task resumes only when the job holding its item has completed: a send never
// leaves before its own intent is durable, and a task never ends (releasing the recipient's
// turn) before its outcome is. Within a job the outcomes and the intents each run in their own
// savepoint, so a part that throws fails only the items of its kind; a failed commit fails them
// all, exactly as a single failed store job did: their messages are not sent and keep their
// durable state (a claim, held in memory: released at stop, or its message claimable again 30 s
// after an intent that failed to commit; engine/store/sqlite/claim_table.hpp).
// A refused outcome is stored again (record_until_stored, dispatcher_send.cpp).

#include <algorithm>
#include <boost/asio/use_awaitable.hpp>
#include <limits>

#include "engine/dispatch/dispatcher.hpp"
#include "engine/store/group_commit.hpp"

namespace pigeon::engine::dispatch {

namespace asio = boost::asio;
using asio::use_awaitable;

struct dispatcher::committer {
  struct item {  // one call's intents, or its outcomes
    std::vector<submit_intent> intents;
    std::vector<send_outcome> outcomes;
  };
  struct result {
    std::vector<std::int64_t> marked;  // of the item's intents
    bool first_of_kind = false;        // the job's first item of its kind: counts one flush
  };
  using commit = group_commit<item, result>;

  explicit committer(async_store& s, asio::any_io_executor ex)
      : group(commit::create(s, std::move(ex), std::numeric_limits<std::size_t>::max(), run)) {}

  // On the writer thread: every outcome of the job in one call, then every intent in one call,
  // each in its own savepoint.
  static void run(store& s, std::vector<item>& items, std::vector<result>& results,
                  std::vector<std::exception_ptr>& errors) {
    std::vector<send_outcome> outcomes;
    std::vector<submit_intent> intents;
    bool outcome_seen = false, intent_seen = false;
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto& it = items[i];
      bool& seen = it.intents.empty() ? outcome_seen : intent_seen;
      results[i].first_of_kind = !seen;
      seen = true;
      std::move(it.outcomes.begin(), it.outcomes.end(), std::back_inserter(outcomes));
      std::move(it.intents.begin(), it.intents.end(), std::back_inserter(intents));
    }
    std::exception_ptr outcomes_error, intents_error;
    std::vector<std::int64_t> marked;
    if (!outcomes.empty())
      outcomes_error =
          each_in_savepoint(s, 1, [&](std::size_t) { s.record_outcomes(outcomes); })[0];
    if (!intents.empty())
      intents_error =
          each_in_savepoint(s, 1, [&](std::size_t) { marked = s.mark_submitting(intents); })[0];
    if (intents_error) marked.clear();
    std::sort(marked.begin(), marked.end());
    // Each item gets back the ids of its own intents that were marked (items keep their ids:
    // moved-from submit_intents still hold message_id).
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].intents.empty()) {
        errors[i] = outcomes_error;
        continue;
      }
      errors[i] = intents_error;
      for (const auto& in : items[i].intents)
        if (std::binary_search(marked.begin(), marked.end(), in.message_id))
          results[i].marked.push_back(in.message_id);
    }
  }

  std::shared_ptr<commit> group;
};

dispatcher::committer& dispatcher::commits() {
  if (!commits_) commits_ = std::make_shared<committer>(store_, ex_);
  return *commits_;
}

asio::awaitable<std::vector<std::int64_t>> dispatcher::mark_submitting(
    std::vector<submit_intent> intents) {
  if (intents.empty()) co_return std::vector<std::int64_t>{};
  // No temporaries in the co_await expression (GCC 12 destroys some twice): item, op, await.
  committer::item it;
  it.intents = std::move(intents);
  auto op = commits().group->async_submit(std::move(it), use_awaitable);
  auto r = co_await std::move(op);
  if (r.first_of_kind) ++stats_.intent_flushes;
  co_return std::move(r.marked);
}

asio::awaitable<void> dispatcher::record(send_outcome outcome) {
  std::vector<send_outcome> one;
  one.push_back(std::move(outcome));
  co_await record_many(std::move(one));
}

asio::awaitable<void> dispatcher::record_many(std::vector<send_outcome> outcomes) {
  for (const auto& outcome : outcomes) {
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
  }
  auto storing = record_until_stored(std::move(outcomes));  // retried: dispatcher_send.cpp
  co_await std::move(storing);
}

asio::awaitable<void> dispatcher::store_outcomes(std::vector<send_outcome> outcomes) {
  if (outcomes.empty()) co_return;
  committer::item it;
  it.outcomes = std::move(outcomes);
  auto op = commits().group->async_submit(std::move(it), use_awaitable);
  auto r = co_await std::move(op);
  if (r.first_of_kind) ++stats_.outcome_flushes;
}

}  // namespace pigeon::engine::dispatch
