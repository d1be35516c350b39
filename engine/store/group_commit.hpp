#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "engine/store/async_store.hpp"

namespace pigeon::engine {

// Runs `fn(i)` for i in [0, n) each in its own savepoint (store::transaction nested in the open
// transaction): one that throws undoes only its own work. Returns each one's failure (null when
// it succeeded). async_store runs its jobs this way, and group_commit's batch functions may.
inline std::vector<std::exception_ptr> each_in_savepoint(
    store& s, std::size_t n, const std::function<void(std::size_t)>& fn) {
  std::vector<std::exception_ptr> errors(n);
  for (std::size_t i = 0; i < n; ++i) {
    try {
      s.transaction([&] { fn(i); });
    } catch (...) {
      errors[i] = std::current_exception();
    }
  }
  return errors;
}

// The group commit of the engine's store writes (issue 17, item 6): many small pieces of work
// submitted one by one (a message's intent, its outcome, a webhook's events) become few store
// jobs, each one transaction on async_store's writer: one fsync for all of them. The dispatcher
// and the webhook handler each own one; async_store's writer commits whatever jobs queued
// together (each in its own savepoint, each_in_savepoint above).
//
// Contract:
// - Threading: async_submit() and every completion run on the executor given at construction (a
//   single thread: the dispatcher's or the webhook server's). The batch function runs on the
//   writer thread, on items nothing else touches until their job completed.
// - Batching: at most one job in flight. Items submitted while it runs wait, and go together (up
//   to max_items, the rest in the job after) as the next job once it completes; an idle
//   group_commit sends a lone item at once. Under load a job carries what queued during the
//   previous commit.
// - Ordering: a job's items reach the batch function in submission order; jobs run one after
//   the other, in order.
// - Durability: an item completes only after its job's transaction committed (or failed), so a
//   result is never seen before it is durable.
// - Failure: the batch function reports a failure per item (its exception_ptr); with
//   each_in_savepoint every item has its own savepoint, so a failing item undoes only its own
//   work and fails alone. A batch function that throws, or a job whose commit fails, fails every
//   item of that job; no failure ever reaches the items of another job.
//
// Lifetime: create() it as a shared_ptr; pending jobs hold it until they complete.
template <typename Item, typename Result>
class group_commit : public std::enable_shared_from_this<group_commit<Item, Result>> {
 public:
  // On the writer thread: fills results[i] or errors[i] for each items[i] (both sized already).
  using batch_fn =
      std::function<void(store&, std::vector<Item>& items, std::vector<Result>& results,
                         std::vector<std::exception_ptr>& errors)>;

  static std::shared_ptr<group_commit> create(async_store& writer, boost::asio::any_io_executor ex,
                                              std::size_t max_items, batch_fn fn) {
    return std::shared_ptr<group_commit>(
        new group_commit(writer, std::move(ex), max_items, std::move(fn)));
  }

  // Queues `item`; completes with void(std::exception_ptr, Result) on the executor once its job
  // committed (a value-initialised Result on failure). Call on the executor's thread.
  template <typename CompletionToken>
  auto async_submit(Item item, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, Result)>(
        [self = this->shared_from_this()](auto handler, Item item) {
          self->pending_.push_back({std::move(item), done_handler(std::move(handler))});
          if (!self->in_flight_) self->flush();
        },
        token, std::move(item));
  }

  std::size_t jobs() const { return jobs_; }  // jobs completed so far

 private:
  using done_handler = boost::asio::any_completion_handler<void(std::exception_ptr, Result)>;
  struct entry {
    Item item;
    done_handler done;
  };
  struct job_result {
    std::vector<Result> results;
    std::vector<std::exception_ptr> errors;
  };

  group_commit(async_store& writer, boost::asio::any_io_executor ex, std::size_t max_items,
               batch_fn fn)
      : writer_(writer),
        ex_(std::move(ex)),
        max_items_(max_items == 0 ? 1 : max_items),
        fn_(std::make_shared<const batch_fn>(std::move(fn))) {}

  // Sends the pending items (up to max_items_) as one store job; its completion answers them and
  // sends whatever queued meanwhile.
  void flush() {
    in_flight_ = true;
    const auto n = std::min(pending_.size(), max_items_);
    // Handlers stay here (a deque: any_completion_handler's move is not noexcept); the items go
    // to the writer.
    auto waiting = std::make_shared<std::deque<done_handler>>();
    auto items = std::make_shared<std::vector<Item>>();
    items->reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      items->push_back(std::move(pending_.front().item));
      waiting->push_back(std::move(pending_.front().done));
      pending_.pop_front();
    }
    std::function<job_result(store&)> job = [items, fn = fn_](store& s) {
      job_result r;
      r.results.resize(items->size());
      r.errors.resize(items->size());
      (*fn)(s, *items, r.results, r.errors);
      return r;
    };
    writer_.async_run<job_result>(
        std::move(job),
        boost::asio::bind_executor(ex_, [self = this->shared_from_this(), waiting](
                                            std::exception_ptr error, job_result r) {
          ++self->jobs_;
          for (std::size_t i = 0; i < waiting->size(); ++i) {
            auto e = error ? error : i < r.errors.size() ? r.errors[i] : std::exception_ptr{};
            std::move((*waiting)[i])(
                e, e || i >= r.results.size() ? Result{} : std::move(r.results[i]));
          }
          self->in_flight_ = false;
          if (!self->pending_.empty()) self->flush();
        }));
  }

  async_store& writer_;
  boost::asio::any_io_executor ex_;
  std::size_t max_items_;
  std::shared_ptr<const batch_fn> fn_;
  std::deque<entry> pending_;
  bool in_flight_ = false;
  std::size_t jobs_ = 0;
};

}  // namespace pigeon::engine
