// Group commit at the dispatcher: every message's `submitting` intent and its outcome go to the
// store through two accumulators, each flushed as ONE store job (one mark_submitting or
// record_outcomes call over all its items) as soon as the previous flush of the same kind has
// completed. Under load a flush carries everything that queued while the previous one was being
// committed; an idle dispatcher flushes a lone message at once.
//
// A message's task resumes only when the flush holding its item has completed: a send never
// leaves before its own intent is durable, and a task never ends (releasing the recipient's
// turn) before its outcome is. A flush that fails (the store threw, the commit failed) throws
// into every task of its group, exactly as a single failed store job did: their messages are
// not sent and keep their durable state (leased: released at stop, or claimable when the
// lease runs out).

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "engine/dispatcher.hpp"

namespace pigeon::engine {

namespace asio = boost::asio;
using asio::use_awaitable;

struct dispatcher::intent_group {
  explicit intent_group(asio::any_io_executor ex) : done(ex) {
    done.expires_at(asio::steady_timer::time_point::max());
  }
  std::vector<submit_intent> intents;  // read by the writer thread once the group is closed
  std::vector<std::int64_t> marked;    // sorted, once finished
  std::exception_ptr error;
  bool finished = false;
  asio::steady_timer done;  // cancelled once finished
};

struct dispatcher::outcome_group {
  explicit outcome_group(asio::any_io_executor ex) : done(ex) {
    done.expires_at(asio::steady_timer::time_point::max());
  }
  std::vector<send_outcome> outcomes;
  std::exception_ptr error;
  bool finished = false;
  asio::steady_timer done;
};

namespace {

// Resumes once `group` finished; rethrows its flush's failure.
template <typename Group>
asio::awaitable<void> wait_for(std::shared_ptr<Group> group) {
  while (!group->finished) (void)co_await group->done.async_wait(asio::as_tuple(use_awaitable));
  if (group->error) std::rethrow_exception(group->error);
}

}  // namespace

asio::awaitable<std::vector<std::int64_t>> dispatcher::mark_submitting(
    std::vector<submit_intent> intents) {
  if (!open_intents_) open_intents_ = std::make_shared<intent_group>(ex_);
  auto group = open_intents_;
  std::vector<std::int64_t> ids;
  ids.reserve(intents.size());
  for (auto& i : intents) {
    ids.push_back(i.message_id);
    group->intents.push_back(std::move(i));
  }
  if (!flushing_intents_) {
    flushing_intents_ = true;
    asio::co_spawn(ex_, flush_intents(), asio::detached);
  }
  auto waiting = wait_for(group);
  co_await std::move(waiting);
  std::vector<std::int64_t> marked;
  for (auto id : ids)
    if (std::binary_search(group->marked.begin(), group->marked.end(), id)) marked.push_back(id);
  co_return marked;
}

asio::awaitable<void> dispatcher::flush_intents() {
  while (open_intents_) {
    auto group = std::move(open_intents_);
    open_intents_.reset();
    // The group is closed: nothing on this thread touches its intents until the job completed.
    std::function<std::vector<std::int64_t>(store&)> job = [group](store& s) {
      return s.mark_submitting(group->intents);
    };
    auto op =
        store_.async_run<std::vector<std::int64_t>>(std::move(job), asio::as_tuple(use_awaitable));
    auto [error, marked] = co_await std::move(op);
    ++stats_.intent_flushes;
    std::sort(marked.begin(), marked.end());
    group->marked = std::move(marked);
    group->error = error;
    group->finished = true;
    group->done.cancel();
  }
  flushing_intents_ = false;
}

asio::awaitable<void> dispatcher::record(send_outcome outcome) {
  std::vector<send_outcome> one;
  one.push_back(std::move(outcome));
  co_await record_many(std::move(one));
}

asio::awaitable<void> dispatcher::record_many(std::vector<send_outcome> outcomes) {
  if (!open_outcomes_) open_outcomes_ = std::make_shared<outcome_group>(ex_);
  auto group = open_outcomes_;
  for (auto& outcome : outcomes) {
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
    group->outcomes.push_back(std::move(outcome));
  }
  if (!flushing_outcomes_) {
    flushing_outcomes_ = true;
    asio::co_spawn(ex_, flush_outcomes(), asio::detached);
  }
  auto waiting = wait_for(group);
  co_await std::move(waiting);
}

asio::awaitable<void> dispatcher::flush_outcomes() {
  while (open_outcomes_) {
    auto group = std::move(open_outcomes_);
    open_outcomes_.reset();
    std::function<void(store&)> job = [group](store& s) { s.record_outcomes(group->outcomes); };
    auto op = store_.async_run<void>(std::move(job), asio::as_tuple(use_awaitable));
    auto [error] = co_await std::move(op);
    ++stats_.outcome_flushes;
    group->error = error;
    group->finished = true;
    group->done.cancel();
  }
  flushing_outcomes_ = false;
}

}  // namespace pigeon::engine
