#include "engine/store/async_store.hpp"

#include <doctest/doctest.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <latch>
#include <thread>

#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::make_contact;
using pigeon::engine::test::make_message;
using pigeon::engine::test::temp_dir;
namespace asio = boost::asio;

TEST_CASE("async store completes jobs on the caller's io_context thread") {
  temp_dir dir;
  asio::io_context io;
  async_store db(sqlite_store::open(dir.file("p.db")));
  auto caller = std::this_thread::get_id();
  std::thread::id writer;
  std::thread::id completed_on;
  int version = 0;
  db.async_run<int>(
      [&](store& s) {
        writer = std::this_thread::get_id();
        return s.save_campaign(make_campaign("promo", "h1"));
      },
      asio::bind_executor(io, [&](std::exception_ptr e, int v) {
        CHECK_FALSE(e);
        completed_on = std::this_thread::get_id();
        version = v;
      }));
  io.run();  // returns once the completion ran: the pending job kept the context busy
  CHECK(version == 1);
  CHECK(completed_on == caller);
  CHECK(writer != caller);
}

TEST_CASE("async store rethrows a job's exception through co_await") {
  temp_dir dir;
  asio::io_context io;
  async_store db(sqlite_store::open(dir.file("p.db")));
  bool threw = false;
  std::size_t campaigns = 99;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        try {
          co_await db.async_run(
              [](store& s) { return s.set_campaign_state("x", "bogus", time_point{}); },
              asio::use_awaitable);
        } catch (const store_error&) {
          threw = true;
        }
        co_await db.async_run([](store& s) { s.save_campaign(make_campaign("promo", "h1")); },
                              asio::use_awaitable);
        campaigns = co_await db.async_run([](store& s) { return s.list_campaigns().size(); },
                                          asio::use_awaitable);
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
  CHECK(threw);
  CHECK(campaigns == 1);
}

TEST_CASE("async store commits concurrently queued jobs in a few transactions") {
  temp_dir dir;
  asio::io_context io;
  async_store db(sqlite_store::open(dir.file("p.db")));
  std::latch hold(1);
  // The first job keeps the writer busy until all the others are queued.
  db.async_run(
      [&](store& s) {
        hold.wait();
        s.save_campaign(make_campaign("promo", "h1"));
        s.upsert_contacts({make_contact("+8613800000000")});
      },
      asio::bind_executor(io, [](std::exception_ptr e) { CHECK_FALSE(e); }));
  int done = 0;
  for (int i = 0; i < 1000; ++i) {
    db.async_run(
        [i](store& s) {
          return s.enqueue({make_message("promo", "s" + std::to_string(i), 1, 1000 + i)});
        },
        asio::bind_executor(io, [&](std::exception_ptr e, std::size_t added) {
          CHECK_FALSE(e);
          CHECK(added == 1);
          ++done;
        }));
  }
  hold.count_down();
  io.run();
  CHECK(done == 1000);
  auto stats = db.statistics();
  CHECK(stats.jobs == 1001);
  CHECK(stats.batches <= 1 + 1000 / async_store::max_batch + 1);
  CHECK(stats.failed_jobs == 0);
}

TEST_CASE("a failing job does not undo the other jobs of its batch") {
  temp_dir dir;
  auto path = dir.file("p.db");
  asio::io_context io;
  {
    async_store db(sqlite_store::open(path));
    std::latch hold(1);
    db.async_run(
        [&](store& s) {
          hold.wait();
          s.save_campaign(make_campaign("promo", "h1", {"s1", "s2"}));
          s.upsert_contacts({make_contact("+8613800000000")});
        },
        asio::bind_executor(io, [](std::exception_ptr) {}));
    std::vector<bool> failed(3);
    db.async_run([](store& s) { return s.enqueue({make_message("promo", "s1", 1, 1000)}); },
                 asio::bind_executor(
                     io, [&](std::exception_ptr e, std::size_t) { failed[0] = e != nullptr; }));
    db.async_run(
        [](store& s) {
          // Writes, then fails: its write must be undone, the neighbours' kept.
          s.enqueue({make_message("promo", "s2", 1, 1000)});
          throw std::runtime_error("job failed after writing");
        },
        asio::bind_executor(io, [&](std::exception_ptr e) { failed[1] = e != nullptr; }));
    db.async_run([](store& s) { s.heartbeat("engine", time_point{}); },
                 asio::bind_executor(io, [&](std::exception_ptr e) { failed[2] = e != nullptr; }));
    hold.count_down();
    io.run();
    CHECK(failed == std::vector<bool>{false, true, false});
    CHECK(db.statistics().failed_jobs == 1);
  }
  auto s = sqlite_store::open(path);
  auto rows = s->messages({});
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].step == "s1");
  CHECK(s->status(time_point{}).engine_owner == "engine");
}
