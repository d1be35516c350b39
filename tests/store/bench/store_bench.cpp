// The store writer's CPU per message on the dispatch path, without the engine around it: one
// thread runs what async_store's writer runs for each message (claim, mark_submitting,
// record_outcomes), in groups as the dispatcher flushes them, on a real SQLite file with serve's
// settings. Prints thread CPU time per message for each step and in total.
//
//   store_bench [messages=50000] [group=64]
//
// PIGEON_STORE_BENCH_SQL: statements run on the database after it is filled and before the
// timed part, for experiments (e.g. "DROP INDEX send_ledger_by_at" prices one index).
//
// scripts/bench_store.sh builds and runs it; figures go to docs/BENCHMARKS.md.
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/store/sqlite/sqlite_store.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::sqlite;

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

time_point at_ms(std::int64_t ms) { return time_point(std::chrono::milliseconds(ms)); }

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 50000;
  const int group = argc > 2 ? std::atoi(argv[2]) : 64;
  if (n <= 0 || group <= 0) {
    std::fprintf(stderr, "usage: store_bench [messages > 0] [group > 0]\n");
    return 2;
  }
  auto dir =
      std::filesystem::temp_directory_path() / ("pigeon-store-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "bench.db").string();
  {
    auto s = sqlite_store::open(path);
    stored_campaign c;
    c.name = "blast";
    c.content_hash = "h";
    c.sender = "shop";
    c.category = "transactional";
    c.templates.push_back(
        {"hello", "A", 100, "sms", "Hi {{first_name}}, your order shipped", "", {}, false, {}, {}});
    s->save_campaign(c);
    std::vector<contact> contacts;
    for (int i = 0; i < n; ++i) {
      contact k;
      k.phone = "+86139" + std::to_string(10000000 + i);
      k.tags = {"member"};
      k.attributes["first_name"] = "U" + std::to_string(i);
      contacts.push_back(std::move(k));
    }
    auto ids = s->upsert_contacts(contacts);
    std::vector<new_message> messages;
    for (auto id : ids) messages.push_back({"blast", "hello", "A", id, at_ms(1000), std::nullopt});
    s->enqueue(messages);
  }

  if (const char* sql = std::getenv("PIGEON_STORE_BENCH_SQL")) {
    sqlite3* raw = nullptr;
    char* error = nullptr;
    if (sqlite3_open(path.c_str(), &raw) != SQLITE_OK ||
        sqlite3_exec(raw, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      std::fprintf(stderr, "PIGEON_STORE_BENCH_SQL: %s\n", error ? error : sqlite3_errmsg(raw));
      return 2;
    }
    sqlite3_close(raw);
  }

  auto s = sqlite_store::open(path);
  double claim = 0, mark = 0, outcome = 0;
  int done = 0;
  std::int64_t now = 2000;
  while (done < n) {
    // The dispatcher claims up to 256 at a time and flushes intents and outcomes in groups.
    auto t0 = thread_cpu_seconds();
    auto claimed = s->claim_due(at_ms(now), 256, at_ms(now + 300000), "bench");
    auto t1 = thread_cpu_seconds();
    claim += t1 - t0;
    if (claimed.empty()) break;
    for (std::size_t i = 0; i < claimed.size(); i += static_cast<std::size_t>(group)) {
      const auto end = std::min(claimed.size(), i + static_cast<std::size_t>(group));
      std::vector<submit_intent> intents;
      for (auto k = i; k < end; ++k) {
        submit_intent in;
        in.message_id = claimed[k].id;
        in.provider = "gateway";
        in.body = "[Shop] Hi U" + std::to_string(claimed[k].id) + ", your order shipped";
        in.at = at_ms(now);
        intents.push_back(std::move(in));
      }
      auto t2 = thread_cpu_seconds();
      s->transaction([&] { s->mark_submitting(intents); });
      auto t3 = thread_cpu_seconds();
      std::vector<send_outcome> outcomes;
      for (const auto& in : intents) {
        outcomes.push_back({in.message_id, message_state::submitted, "gateway",
                            "c" + std::to_string(in.message_id), "", std::nullopt, at_ms(now)});
      }
      auto t4 = thread_cpu_seconds();
      s->transaction([&] { s->record_outcomes(outcomes); });
      auto t5 = thread_cpu_seconds();
      mark += t3 - t2;
      outcome += t5 - t4;
    }
    done += static_cast<int>(claimed.size());
    ++now;
  }
  auto per = [&](double seconds) { return seconds / done * 1e6; };
  std::printf(
      "%d messages, groups of %d: claim %.1f us, mark_submitting %.1f us, "
      "record_outcomes %.1f us; total %.1f us of writer CPU per message\n",
      done, group, per(claim), per(mark), per(outcome), per(claim + mark + outcome));
  s.reset();
  std::filesystem::remove_all(dir);
  return done == n ? 0 : 1;
}
