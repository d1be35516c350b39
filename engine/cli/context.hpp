#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/engine_config.hpp"
#include "engine/model/clock.hpp"
#include "engine/store/store.hpp"

namespace pigeon::engine::cli {

// Options every subcommand takes, and the shared ways to turn them into config and a store.
struct context {
  std::string config_path = "pigeon.yaml";
  bool config_given = false;  // --config was passed explicitly
  std::string db_path;        // --db; overrides the config's `database`
  bool json = false;

  // The engine config. With `required`, a missing file is an error; otherwise defaults are
  // used when the default path does not exist. Commands that never send pass
  // secrets::leave_unset, so reading needs no carrier credentials. Throws config_error.
  config::engine_config engine_config(bool required,
                                      config::secrets secrets = config::secrets::resolve) const;
  // Whether open_store may create the database. Reading commands never do: only `contacts
  // import`, `campaign apply` (and `serve`, the engine) create one, and say so on stderr.
  enum class store_open { existing, create };
  // Opens the store at --db, else the config's `database`: a SQLite file, or a PostgreSQL
  // server's database. Throws store_error; with store_open::existing, a missing file is one
  // ("no database at PATH ..."), and so is a server that does not answer ("cannot connect to
  // URL (password masked): ...").
  std::unique_ptr<engine::store> open_store(const config::engine_config& cfg,
                                            store_open mode = store_open::existing) const;
  // For long reads beside a running engine (contacts list, show, export): a read-only
  // connection whose transactions begin deferred, so a scan never holds the write lock the
  // engine waits for. Opened like open_store(existing) first (a missing file is the same error;
  // an older schema is migrated), then reopened for reading (an in-memory database is not).
  std::unique_ptr<engine::store> open_reader(const config::engine_config& cfg) const;
  std::string database(const config::engine_config& cfg) const;
  // Whether the database is a PostgreSQL server's (`database: postgresql://...`, --db URL).
  bool is_postgres(const config::engine_config& cfg) const;
  // Whether there is a database to read: a file that exists, or any PostgreSQL URL (whether the
  // server answers is open_store's business).
  bool database_exists(const config::engine_config& cfg) const;
  // The database for messages: the path, or the URL with its password masked.
  std::string database_label(const config::engine_config& cfg) const;
};

// The clock a command runs on: `system` (or empty) for real time, `sim:T` (an ISO time) for a
// simulated clock starting at T (serve; apply and validate as of T, for rehearsals). Throws
// std::runtime_error naming the flag on a bad spec.
std::unique_ptr<engine::clock> make_clock(const std::string& spec);

// Prints config issues one per line (file:line:col: message) to stderr.
void print_issues(const std::exception& e);

}  // namespace pigeon::engine::cli
