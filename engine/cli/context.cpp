#include "engine/cli/context.hpp"

#include <filesystem>
#include <iostream>

#include "config/source_location.hpp"
#include "engine/model/model.hpp"
#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::cli {

config::engine_config context::engine_config(bool required, config::secrets secrets) const {
  if (!config_given && !required && !std::filesystem::exists(config_path))
    return config::engine_config{};
  if (!std::filesystem::exists(config_path))
    throw config::config_error({{{config_path, 0, 0},
                                 "engine config not found (pass --config FILE or set "
                                 "PIGEON_CONFIG)"}});
  return config::load_engine_config(config_path, secrets);
}

std::string context::database(const config::engine_config& cfg) const {
  return db_path.empty() ? cfg.database : db_path;
}

bool context::is_postgres(const config::engine_config& cfg) const {
  return postgres::postgres_store::is_url(database(cfg));
}

bool context::database_exists(const config::engine_config& cfg) const {
  return is_postgres(cfg) || std::filesystem::exists(database(cfg));
}

std::string context::database_label(const config::engine_config& cfg) const {
  return is_postgres(cfg) ? engine::postgres::mask_password(database(cfg)) : database(cfg);
}

std::unique_ptr<engine::store> context::open_store(const config::engine_config& cfg,
                                                   store_open mode) const {
  using sqlite_mode = sqlite::sqlite_store::open_mode;
  auto path = database(cfg);
  // A server's database is never created by pigeon (its administrator creates it); an empty one
  // gets pigeon's schema on first open.
  if (is_postgres(cfg)) return postgres::postgres_store::open(path);
  if (mode == store_open::existing) return sqlite::sqlite_store::open(path, sqlite_mode::existing);
  bool fresh = path != ":memory:" && !path.starts_with("file:") && !std::filesystem::exists(path);
  auto db = sqlite::sqlite_store::open(path, sqlite_mode::create);
  if (fresh) std::cerr << "pigeon: created database " << path << "\n";
  return db;
}

std::unique_ptr<engine::store> context::open_reader(const config::engine_config& cfg) const {
  auto path = database(cfg);
  // PostgreSQL: a connection of its own (read committed: a scan never blocks the engine).
  if (is_postgres(cfg)) return postgres::postgres_store::open(path);
  auto db = open_store(cfg);
  if (path == ":memory:" || path.starts_with("file:")) return db;
  db.reset();
  return sqlite::sqlite_store::open_reader(path);
}

std::unique_ptr<engine::clock> make_clock(const std::string& spec) {
  if (spec.empty() || spec == "system") return std::make_unique<engine::system_clock>();
  if (spec.rfind("sim:", 0) == 0) {
    auto start = engine::parse_iso(spec.substr(4));
    if (!start) throw std::runtime_error("--clock sim:T needs an ISO time, got `" + spec + "`");
    return std::make_unique<engine::simulated_clock>(*start);
  }
  throw std::runtime_error("--clock takes `system` or `sim:T`, got `" + spec + "`");
}

void print_issues(const std::exception& e) {
  if (auto* ce = dynamic_cast<const config::config_error*>(&e)) {
    for (const auto& issue : ce->issues()) std::cerr << issue.to_string() << "\n";
    std::cerr << ce->issues().size() << (ce->issues().size() == 1 ? " error" : " errors") << "\n";
  } else {
    std::cerr << e.what() << "\n";
  }
}

}  // namespace pigeon::engine::cli
