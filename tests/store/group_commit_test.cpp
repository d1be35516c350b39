#include "engine/store/group_commit.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <latch>
#include <string>
#include <vector>

#include "engine/store/sqlite/sqlite_store.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;
using pigeon::engine::test::make_campaign;
using pigeon::engine::test::temp_dir;
namespace asio = boost::asio;

namespace {

using names = group_commit<std::string, int>;

// Each item saves a campaign of that name in its own savepoint ("bad:" ones save, then throw);
// the batch function throws outright when an item is "boom". Records each job's items.
names::batch_fn saving(std::vector<std::vector<std::string>>& jobs) {
  return [&jobs](store& s, std::vector<std::string>& items, std::vector<int>& versions,
                 std::vector<std::exception_ptr>& errors) {
    jobs.push_back(items);
    for (const auto& i : items)
      if (i == "boom") throw store_error("the whole job fails");
    errors = each_in_savepoint(s, items.size(), [&](std::size_t k) {
      const bool bad = items[k].starts_with("bad:");
      versions[k] = s.save_campaign(make_campaign(bad ? items[k].substr(4) : items[k], "h"));
      if (bad) throw store_error("item " + items[k] + " fails");
    });
  };
}

struct outcome {
  bool failed = false;
  int version = 0;
};

// Submits `items` while the writer is held by another job, so the first one's job stays in
// flight while the others queue; then lets it go and runs `io` until all completed.
std::vector<outcome> submit_while_busy(async_store& db, asio::io_context& io, names& commit,
                                       const std::vector<std::string>& items) {
  std::latch hold(1);
  db.async_run([&](store&) { hold.wait(); }, asio::bind_executor(io, [](std::exception_ptr) {}));
  std::vector<outcome> done(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    commit.async_submit(items[i], asio::bind_executor(io, [&done, i](std::exception_ptr e, int v) {
                          done[i] = {static_cast<bool>(e), v};
                        }));
  hold.count_down();
  io.run();
  return done;
}

}  // namespace

TEST_CASE("a group commit sends what queued during a job as the next job, in order") {
  temp_dir dir;
  asio::io_context io;
  async_store db(sqlite_store::open(dir.file("p.db")));
  std::vector<std::vector<std::string>> jobs;
  auto commit = names::create(db, io.get_executor(), 100, saving(jobs));
  auto done = submit_while_busy(db, io, *commit, {"a", "b", "c", "d"});
  CHECK(jobs == std::vector<std::vector<std::string>>{{"a"}, {"b", "c", "d"}});
  CHECK(commit->jobs() == 2);
  for (const auto& d : done) {
    CHECK_FALSE(d.failed);
    CHECK(d.version == 1);
  }
}

TEST_CASE("a failing item undoes only its own work; a failing job fails only its own items") {
  temp_dir dir;
  asio::io_context io;
  async_store db(sqlite_store::open(dir.file("p.db")));
  std::vector<std::vector<std::string>> jobs;
  auto commit = names::create(db, io.get_executor(), 3, saving(jobs));
  // Jobs: {first} while the writer is held, then at most 3 per job: {a, bad:b, c}, {boom, d, e}.
  auto done = submit_while_busy(db, io, *commit, {"first", "a", "bad:b", "c", "boom", "d", "e"});
  REQUIRE(jobs.size() == 3);
  CHECK(jobs[1] == std::vector<std::string>{"a", "bad:b", "c"});
  CHECK(jobs[2] == std::vector<std::string>{"boom", "d", "e"});
  std::vector<bool> failed;
  for (const auto& d : done) failed.push_back(d.failed);
  CHECK(failed == std::vector<bool>{false, false, true, false, true, true, true});
  std::vector<std::string> stored;
  db.async_run(
      [&](store& s) {
        for (const auto& c : s.list_campaigns()) stored.push_back(c.name);
      },
      asio::bind_executor(io, [](std::exception_ptr) {}));
  io.restart();
  io.run();
  std::sort(stored.begin(), stored.end());
  CHECK(stored == std::vector<std::string>{"a", "c", "first"});
}
