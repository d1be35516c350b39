#pragma once
// Shared by the dispatcher tests: run a dispatcher to idle and read back the queue.

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <future>
#include <vector>

#include "engine/dispatch/dispatcher.hpp"
#include "engine/store/async_store.hpp"

namespace pigeon::engine::testing {

// Runs `d` (built with until_idle) on `ioc` until run() returns; fails the test if it has not
// returned within 60 s, and rethrows what run() threw.
inline void run_to_idle(boost::asio::io_context& ioc, dispatcher& d) {
  bool done = false;
  boost::asio::co_spawn(ioc, d.run(), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  ioc.run_for(std::chrono::seconds(60));
  REQUIRE(done);
}

// Every message row, read on the store's writer thread (so after every job queued before).
inline std::vector<message_row> all_rows(async_store& queue) {
  std::promise<std::vector<message_row>> p;
  queue.async_run<std::vector<message_row>>(
      [](store& s) { return s.messages({}); },
      [&](std::exception_ptr, std::vector<message_row> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

}  // namespace pigeon::engine::testing
