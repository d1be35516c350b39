#include "engine/store/async_store.hpp"

#include <algorithm>
#include <iterator>
#include <vector>

#include "engine/store/group_commit.hpp"

namespace pigeon::engine {

async_store::async_store(std::unique_ptr<store> s)
    : store_(std::move(s)), writer_([this] { run_writer(); }) {}

async_store::~async_store() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

async_store::stats async_store::statistics() const {
  return {batches_.load(), jobs_.load(), failed_jobs_.load()};
}

void async_store::enqueue(std::function<void(store&)> run,
                          std::function<void(std::exception_ptr)> done) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(run), std::move(done)});
  }
  wake_.notify_one();
}

void async_store::run_writer() {
  std::deque<job> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      // Everything that queued up while the previous batch ran goes into this one.
      auto n = std::min(queue_.size(), max_batch);
      std::move(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n),
                std::back_inserter(batch));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    run_batch(batch);
    batch.clear();
  }
}

void async_store::run_batch(std::deque<job>& batch) {
  std::vector<std::exception_ptr> errors(batch.size());
  try {
    store_->transaction([&] {
      // Nested: a savepoint each, so a failing job undoes only itself.
      errors =
          each_in_savepoint(*store_, batch.size(), [&](std::size_t i) { batch[i].run(*store_); });
    });
    batches_.fetch_add(1);
  } catch (...) {
    // BEGIN or COMMIT failed: nothing of this batch is stored, so every job failed.
    for (auto& e : errors)
      if (!e) e = std::current_exception();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    jobs_.fetch_add(1);
    if (errors[i]) failed_jobs_.fetch_add(1);
    batch[i].done(errors[i]);
  }
}

}  // namespace pigeon::engine
