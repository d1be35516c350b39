// Group commit at the dispatcher: every message's `submitting` intent and its outcome go to the
// store through two accumulators, flushed together as ONE store job (one record_outcomes and one
// mark_submitting call over all their items, one transaction) as soon as the previous flush has
// completed. Under load a flush carries everything that queued while the previous one was being
// committed; an idle dispatcher flushes a lone message at once.
//
// A message's task resumes only when the flush holding its item has completed: a send never
// leaves before its own intent is durable, and a task never ends (releasing the recipient's
// turn) before its outcome is. A flush that fails (the store threw, the commit failed) throws
// into every task of its group, exactly as a single failed store job did: their messages are
// not sent and keep their durable state (leased: released at stop, or claimable when the
// lease runs out). Outcomes are stored again after a failed flush (record_until_stored).

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "engine/dispatch/dispatcher.hpp"

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
  if (!flushing_) {
    flushing_ = true;
    asio::co_spawn(ex_, flush(), asio::detached);
  }
  auto waiting = wait_for(group);
  co_await std::move(waiting);
  std::vector<std::int64_t> marked;
  for (auto id : ids)
    if (std::binary_search(group->marked.begin(), group->marked.end(), id)) marked.push_back(id);
  co_return marked;
}

// One store job per flush carries both the outcomes and the intents that queued since the last
// one: a single transaction (one fsync, each dirty page written to the WAL once) instead of one
// for each kind. Each part runs in its own savepoint, so a part that throws fails only its own
// group; a failed commit fails both.
asio::awaitable<void> dispatcher::flush() {
  struct result {
    std::exception_ptr outcomes_error, intents_error;
    std::vector<std::int64_t> marked;
  };
  while (open_intents_ || open_outcomes_) {
    auto intents = std::move(open_intents_);
    auto outcomes = std::move(open_outcomes_);
    open_intents_.reset();
    open_outcomes_.reset();
    // Both groups are closed: nothing on this thread touches them until the job completed.
    std::function<result(store&)> job = [intents, outcomes](store& s) {
      result r;
      if (outcomes) {
        try {
          s.transaction([&] { s.record_outcomes(outcomes->outcomes); });
        } catch (...) {
          r.outcomes_error = std::current_exception();
        }
      }
      if (intents) {
        try {
          s.transaction([&] { r.marked = s.mark_submitting(intents->intents); });
        } catch (...) {
          r.intents_error = std::current_exception();
          r.marked.clear();
        }
      }
      return r;
    };
    auto op = store_.async_run<result>(std::move(job), asio::as_tuple(use_awaitable));
    auto [error, r] = co_await std::move(op);
    if (outcomes) {
      ++stats_.outcome_flushes;
      outcomes->error = error ? error : r.outcomes_error;
      outcomes->finished = true;
      outcomes->done.cancel();
    }
    if (intents) {
      ++stats_.intent_flushes;
      std::sort(r.marked.begin(), r.marked.end());
      intents->marked = error ? std::vector<std::int64_t>{} : std::move(r.marked);
      intents->error = error ? error : r.intents_error;
      intents->finished = true;
      intents->done.cancel();
    }
  }
  flushing_ = false;
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
  if (!open_outcomes_) open_outcomes_ = std::make_shared<outcome_group>(ex_);
  auto group = open_outcomes_;
  for (auto& outcome : outcomes) group->outcomes.push_back(std::move(outcome));
  if (!flushing_) {
    flushing_ = true;
    asio::co_spawn(ex_, flush(), asio::detached);
  }
  auto waiting = wait_for(group);
  co_await std::move(waiting);
}

}  // namespace pigeon::engine
