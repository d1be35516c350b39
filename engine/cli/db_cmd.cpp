// pigeon db copy: moves an embedded SQLite database into a PostgreSQL one (engine/store/copy).
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/cli/commands.hpp"
#include "engine/ops/engine_lock.hpp"
#include "engine/store/copy/db_copy.hpp"
#include "engine/store/postgres/postgres_store.hpp"

namespace pigeon::engine::cli {

namespace {

boost::json::object to_json(const copy::copy_result& r) {
  boost::json::array tables;
  for (const auto& t : r.tables)
    tables.push_back({{"table", t.table}, {"source", t.source}, {"target", t.target}});
  boost::json::object out{{"source", r.source},         {"target", r.target},
                          {"committed", r.committed()}, {"rows", r.rows},
                          {"seconds", r.seconds},       {"tables", std::move(tables)}};
  if (!r.refused.empty()) out["refused"] = r.refused;
  if (!r.mismatch.empty()) out["mismatch"] = r.mismatch;
  return out;
}

int copy(const context& ctx, const std::string& from, const std::string& to) {
  if (!postgres::postgres_store::is_url(to)) {
    std::cerr << "pigeon db copy: --to '" << to
              << "' is not a PostgreSQL database (expected postgresql://user@host:port/db)\n";
    return 2;
  }
  if (postgres::postgres_store::is_url(from)) {
    std::cerr << "pigeon db copy: --from must be a SQLite file, got a PostgreSQL URL\n";
    return 2;
  }
  if (!std::filesystem::exists(from)) {
    std::cerr << "pigeon db copy: no database at " << from << " (--from names a SQLite file)\n";
    return 2;
  }
  // No engine may send from the file while it is copied: what it sent after the snapshot would
  // be missing from the copy. The engine lock refuses while one runs (and keeps one out).
  ops::engine_lock lock(from);
  auto result = copy::copy_database(from, to, [&](const std::string& table, std::int64_t rows) {
    if (!ctx.json && rows > 0) std::cerr << "  copied " << rows << " " << table << "\n";
  });
  if (ctx.json) {
    std::cout << boost::json::serialize(to_json(result)) << "\n";
  } else if (!result.refused.empty()) {
    std::cerr << "pigeon db copy: " << result.refused << "\n";
  } else {
    std::printf("%-22s %12s %12s\n", "TABLE", "SOURCE", "TARGET");
    for (const auto& t : result.tables)
      std::printf("%-22s %12lld %12lld\n", t.table.c_str(), static_cast<long long>(t.source),
                  static_cast<long long>(t.target));
    if (result.committed()) {
      auto rate = result.seconds > 0 ? static_cast<double>(result.rows) / result.seconds : 0.0;
      std::printf(
          "copied %lld rows from %s to %s in %.2f s (%.0f rows/s); every table's count matches "
          "the source\n",
          static_cast<long long>(result.rows), result.source.c_str(), result.target.c_str(),
          result.seconds, rate);
    }
  }
  if (!result.mismatch.empty())
    std::cerr << "pigeon db copy: counts differ after the copy (" << result.mismatch
              << "): rolled back, nothing was written to " << result.target << "\n";
  if (!result.refused.empty()) return 1;
  return result.committed() ? 0 : 2;
}

}  // namespace

void register_db(CLI::App& app, context& ctx, int& exit_code) {
  auto* db = app.add_subcommand("db", "move a database");
  db->require_subcommand(1);
  auto* c = db->add_subcommand(
      "copy", "copy a SQLite database into an empty PostgreSQL one (ids kept, counts checked)");
  static std::string from, to;
  c->add_option("--from", from, "the SQLite file (stop its engine first)")->required();
  c->add_option("--to", to, "postgresql://user@host:port/db: an empty database")->required();
  c->add_flag("--json", ctx.json, "JSON output");
  c->callback([&] { exit_code = copy(ctx, from, to); });
}

}  // namespace pigeon::engine::cli
