#pragma once

// Two lanes of one provider as two nodes would run them, for the shared rate's tests (engine:
// an in-memory budget; store: PostgreSQL's, one connection per "node").

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "engine/dispatch/lane.hpp"
#include "engine/dispatch/rate_budget.hpp"

namespace pigeon::engine::test {

inline dispatch::lane_config shared_rate_config(double rate) {
  dispatch::lane_config config;
  config.name = "carrier";
  config.rate_per_second = rate;  // burst: the default, 50 ms of rate
  config.concurrency = 1000;
  return config;
}

// Each lane sends `per_lane` one-segment messages as the dispatcher does (its own pacing, then
// the shared budget and the wire right before the request), all queued at once; a null budget
// leaves the lane alone. Returns when every send went: the times they went, both lanes together.
inline std::vector<dispatch::steady_time> run_two_lanes(double rate,
                                                        std::shared_ptr<dispatch::budget_thread> a,
                                                        std::shared_ptr<dispatch::budget_thread> b,
                                                        int per_lane) {
  boost::asio::io_context io;
  std::vector<dispatch::steady_time> sent;
  {
    dispatch::lane first(io.get_executor(), shared_rate_config(rate));
    dispatch::lane second(io.get_executor(), shared_rate_config(rate));
    if (a) first.share_rate(a);
    if (b) second.share_rate(b);
    for (dispatch::lane* l : {&first, &second}) {
      for (int i = 0; i < per_lane; ++i) {
        boost::asio::co_spawn(
            io,
            [l, &sent]() -> boost::asio::awaitable<void> {
              auto pacing = l->pace(1);
              co_await std::move(pacing);
              auto ready = l->ready_to_send(1);
              if (co_await std::move(ready)) sent.push_back(std::chrono::steady_clock::now());
            },
            boost::asio::detached);
      }
    }
    io.run();
  }
  std::sort(sent.begin(), sent.end());
  return sent;
}

// The most sends inside any window of one second (sliding).
inline std::size_t max_in_any_second(const std::vector<dispatch::steady_time>& sorted) {
  std::size_t best = 0, first = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    while (sorted[i] - sorted[first] >= std::chrono::seconds(1)) ++first;
    best = std::max(best, i - first + 1);
  }
  return best;
}

}  // namespace pigeon::engine::test
