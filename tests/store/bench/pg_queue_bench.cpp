// The PostgreSQL queue's cost per message on the dispatch path, without the engine around it: one
// node runs what the dispatcher's store work is for each message (claim_due by 256,
// mark_submitting and record_outcomes in groups, each group in one transaction) against a
// throwaway cluster on a Unix socket (tests/store/pg_cluster.hpp; fsync off, synchronous_commit
// on). Prints wall time, this process's CPU and its PostgreSQL backend's CPU (read from /proc:
// same machine) per message for each step; on a loaded machine the wall time is mostly waiting
// for a core, the CPU figures are what the work costs.
//
//   pg_queue_bench [messages=20000] [group=64] [marketing=0]
//
// marketing=1 makes the campaign marketing with an engine cap rule, so every intent locks its
// contact and reads the policy facts (preferences, counted sends, waiting higher priority).
// PIGEON_PG_BENCH_URL names an empty database to use instead of a throwaway cluster.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "tests/store/pg_cluster.hpp"

using namespace pigeon::engine;
using namespace pigeon::engine::postgres;

namespace {

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

time_point at_ms(std::int64_t ms) { return time_point(std::chrono::milliseconds(ms)); }

// CPU seconds used so far by process `pid` (this node's PostgreSQL backend), from /proc: same
// machine only, in clock ticks (10 ms), so summed over many calls.
double process_cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fields = text.substr(text.rfind(')') + 2);
  std::istringstream rest(fields);
  std::string skip;
  for (int i = 3; i < 14; ++i) rest >> skip;  // state .. cmajflt: fields 3 to 13
  double utime = 0, stime = 0;
  rest >> utime >> stime;
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int backend_pid = 0;

struct cost {
  double wall = 0, cpu = 0, server = 0;
  template <class F>
  void time(F&& f) {
    auto w = wall_seconds();
    auto c = process_cpu_seconds();
    auto b = process_cpu_seconds(backend_pid);
    f();
    wall += wall_seconds() - w;
    cpu += process_cpu_seconds() - c;
    server += process_cpu_seconds(backend_pid) - b;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int group = argc > 2 ? std::atoi(argv[2]) : 64;
  const bool marketing = argc > 3 && std::atoi(argv[3]) != 0;
  if (n <= 0 || group <= 0) {
    std::fprintf(stderr, "usage: pg_queue_bench [messages > 0] [group > 0] [marketing 0|1]\n");
    return 2;
  }
  // PIGEON_PG_BENCH_URL: an empty database to use instead (kept afterwards, for EXPLAIN).
  const char* given = std::getenv("PIGEON_PG_BENCH_URL");
  auto url = given ? std::string(given) : test::pg_cluster::shared().create_database();
  auto s = postgres_store::open(url);
  backend_pid = static_cast<int>(s->connection().query_int("SELECT pg_backend_pid()"));
  stored_campaign c;
  c.name = "blast";
  c.content_hash = "h";
  c.sender = "shop";
  c.category = marketing ? "marketing" : "transactional";
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
  cost enqueue;
  enqueue.time([&] { s->enqueue(messages); });

  const std::vector<cap_rule> caps = {{"active 2 per 7d", 2, std::chrono::hours(24 * 7)}};
  cost claim, mark, outcome;
  int done = 0;
  std::int64_t now = 2000;
  while (done < n) {
    std::vector<claimed_message> claimed;
    claim.time([&] { claimed = s->claim_due(at_ms(now), 256, at_ms(now + 300000), "bench"); });
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
        if (marketing) in.caps = caps;
        intents.push_back(std::move(in));
      }
      mark.time([&] { s->transaction([&] { s->mark_submitting(intents); }); });
      std::vector<send_outcome> outcomes;
      for (const auto& in : intents) {
        outcomes.push_back({in.message_id, message_state::submitted, "gateway",
                            "c" + std::to_string(in.message_id), "", std::nullopt, at_ms(now)});
      }
      outcome.time([&] { s->transaction([&] { s->record_outcomes(outcomes); }); });
    }
    done += static_cast<int>(claimed.size());
    ++now;
  }
  auto us = [&](double seconds) { return seconds / n * 1e6; };
  // The round trip alone, as a yardstick for the figures above (same connection, same load).
  cost ping;
  ping.time([&] {
    for (int i = 0; i < n; ++i) s->connection().query_int("SELECT 1");
  });
  std::printf(
      "%d messages (%s), groups of %d, per message in us: wall / client CPU / PostgreSQL CPU\n",
      done, marketing ? "marketing, capped" : "transactional", group);
  auto line = [&](const char* what, const cost& c) {
    std::printf("  %-20s %7.1f / %6.1f / %6.1f\n", what, us(c.wall), us(c.cpu), us(c.server));
  };
  line("enqueue", enqueue);
  line("claim_due", claim);
  line("mark_submitting", mark);
  line("record_outcomes", outcome);
  line("claim+mark+outcome",
       {claim.wall + mark.wall + outcome.wall, claim.cpu + mark.cpu + outcome.cpu,
        claim.server + mark.server + outcome.server});
  line("a round trip", ping);
  return done == n ? 0 : 1;
}
