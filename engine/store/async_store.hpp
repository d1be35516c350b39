#pragma once

#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "engine/store/store.hpp"

namespace pigeon::engine {

namespace detail {

template <typename R>
struct store_run_signature {
  using type = void(std::exception_ptr, R);
};
template <>
struct store_run_signature<void> {
  using type = void(std::exception_ptr);
};

// The state of one async_run: the handler and a work guard on its executor until completion.
template <typename R, typename Handler>
struct store_run_op {
  explicit store_run_op(Handler h)
      : handler(std::move(h)),
        work(boost::asio::make_work_guard(boost::asio::get_associated_executor(handler))) {}

  // Called on the writer thread once the job's transaction committed or failed; the handler
  // runs on its own executor.
  static void complete(std::shared_ptr<store_run_op> self, std::exception_ptr error) {
    auto executor = self->work.get_executor();
    boost::asio::post(executor, [self = std::move(self), error]() mutable {
      auto handler = std::move(self->handler);
      auto result = std::move(self->result);
      self->work.reset();
      if constexpr (std::is_void_v<R>) {
        std::move(handler)(error);
      } else {
        std::move(handler)(error, result ? std::move(*result) : R{});
      }
    });
  }

  Handler handler;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>> work;
  std::optional<std::conditional_t<std::is_void_v<R>, int, R>> result;
};

}  // namespace detail

// Runs store operations on one writer thread, so the Asio thread never waits for SQLite. Jobs
// queued while a batch runs are committed together in the next transaction (group commit): one
// fsync for many status updates. Each job runs inside store::transaction() nested in the batch's
// transaction, so a job that throws undoes only its own work (the store must implement a nested
// transaction() as a savepoint, as sqlite_store does).
//
// Threading: async_run may be called from any thread. The store is touched only by the writer
// thread once constructed. Completions are delivered through the handler's associated executor
// (posted, never on the writer thread, never inline), exactly once, after the job's batch has
// committed (or failed); a job's result is never visible before it is durable. A handler with no
// associated executor (a plain lambda) runs on asio's system executor: bind it to yours with
// asio::bind_executor (use_awaitable does so already). A work guard on the handler's executor is
// held until completion, so io_context::run() does not return while a job is pending.
// Cancellation is not supported: a queued job always runs.
//
// Lifetime: the destructor runs every job already queued, delivers their completions, then
// joins the thread. Do not call async_run concurrently with or after destruction.
class async_store {
 public:
  struct stats {
    std::uint64_t batches = 0;      // transactions committed
    std::uint64_t jobs = 0;         // jobs run (succeeded or failed)
    std::uint64_t failed_jobs = 0;  // jobs completed with an exception
  };

  // The most jobs one transaction takes, so one batch does not hold the write lock (and delay
  // its first completion) for long.
  static constexpr std::size_t max_batch = 512;

  explicit async_store(std::unique_ptr<store> s);
  ~async_store();
  async_store(const async_store&) = delete;
  async_store& operator=(const async_store&) = delete;

  // Runs fn(store&) on the writer thread. Completion signature: void(std::exception_ptr, R), or
  // void(std::exception_ptr) for R = void; with asio::use_awaitable, co_await returns R or
  // rethrows. On failure (fn threw, or the batch's commit failed) R is value-initialised.
  template <typename R, typename CompletionToken>
  auto async_run(std::function<R(store&)> fn, CompletionToken&& token) {
    static_assert(std::is_void_v<R> || std::is_default_constructible_v<R>,
                  "async_run needs a default-constructible R to report a failure");
    using signature = typename detail::store_run_signature<R>::type;
    return boost::asio::async_initiate<CompletionToken, signature>(
        [this](auto handler, std::function<R(store&)> job) {
          using op = detail::store_run_op<R, decltype(handler)>;
          auto state = std::make_shared<op>(std::move(handler));
          enqueue(
              [state, job = std::move(job)](store& s) {
                if constexpr (std::is_void_v<R>) {
                  job(s);
                } else {
                  state->result.emplace(job(s));
                }
              },
              [state](std::exception_ptr error) { op::complete(state, error); });
        },
        token, std::move(fn));
  }

  // The same, with R deduced from a callable: async_run([](store& s) { ... }, token).
  template <typename Fn, typename CompletionToken>
  requires std::invocable<Fn&, store&>
  auto async_run(Fn fn, CompletionToken&& token) {
    using R = std::invoke_result_t<Fn&, store&>;
    return async_run<R>(std::function<R(store&)>(std::move(fn)),
                        std::forward<CompletionToken>(token));
  }

  // Counters for tests and metrics; may be read from any thread.
  stats statistics() const;

 private:
  struct job {
    std::function<void(store&)> run;               // on the writer thread
    std::function<void(std::exception_ptr)> done;  // on the writer thread, after commit
  };

  void enqueue(std::function<void(store&)> run, std::function<void(std::exception_ptr)> done);
  void run_writer();
  void run_batch(std::deque<job>& batch);

  std::unique_ptr<store> store_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<job> queue_;  // guarded by mutex_
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> jobs_{0};
  std::atomic<std::uint64_t> failed_jobs_{0};
  std::thread writer_;  // last: starts after everything above is initialised
};

}  // namespace pigeon::engine
