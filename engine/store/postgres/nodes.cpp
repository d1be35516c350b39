// postgres_store: node registration. Each `pigeon serve` on a PostgreSQL database is a node with
// a name and a heartbeat row (engine_heartbeat); a name is one engine's at a time.
#include <unistd.h>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"

namespace pigeon::engine::postgres {

std::optional<std::string> postgres_store::register_node(const std::string& name, time_point now,
                                                         std::chrono::milliseconds live) {
  std::optional<std::string> refused;
  atomically("register node", [&] {
    // Two nodes starting under one name at once: the second waits here for the first's commit,
    // then sees its heartbeat.
    query(*db_, "SELECT pg_advisory_xact_lock(hashtext('pigeon node ' || $1::text))")
        .bind(1, name)
        .run();
    query q(*db_, "SELECT at FROM engine_heartbeat WHERE owner = $1 AND stopped_at IS NULL");
    q.bind(1, name);
    if (q.step()) {
      auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - q.get_time(0));
      if (age < live) {
        auto seconds = std::max<std::int64_t>(0, age.count() / 1000);
        refused = "another node named " + name + " is running on " + target() + " (heartbeat " +
                  std::to_string(seconds) + "s ago): stop it, or start this one with another " +
                  "--node name (a node whose heartbeat is " + std::to_string(live.count() / 1000) +
                  "s old counts as dead)";
        return;
      }
    }
    query(*db_,
          "INSERT INTO engine_heartbeat (owner, pid, at) VALUES ($1, $2, $3) "
          "ON CONFLICT (owner) DO UPDATE SET pid = excluded.pid, at = excluded.at, "
          "stopped_at = NULL")
        .bind(1, name)
        .bind(2, static_cast<std::int64_t>(::getpid()))
        .bind(3, now)
        .run();
  });
  return refused;
}

}  // namespace pigeon::engine::postgres
