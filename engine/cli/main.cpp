// pigeon: the one binary. Wires the SQLite store, the HTTP client and the concrete carrier
// codecs into the engine; every subcommand lives in a file of its own beside this one.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "config/source_location.hpp"
#include "engine/cli/commands.hpp"
#include "engine/store/store.hpp"

int main(int argc, char** argv) {
  pigeon::engine::cli::context ctx;
  int exit_code = 0;
  CLI::App app{"pigeon: SMS/MMS campaign dispatch engine"};
  app.require_subcommand(1);
  app.fallthrough();  // --config, --db and --json also work after the subcommand
  app.option_defaults()->always_capture_default();
  auto* cfg =
      app.add_option("--config", ctx.config_path, "engine config YAML")->envname("PIGEON_CONFIG");
  app.add_option("--db", ctx.db_path,
                 "database file or postgresql:// URL (overrides the config's `database`)")
      ->envname("PIGEON_DB");
  app.add_flag("--json", ctx.json, "machine-readable output");
  app.set_version_flag("--version", "pigeon " PIGEON_VERSION);
  spdlog::set_level(spdlog::level::info);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");

  pigeon::engine::cli::register_contacts(app, ctx, exit_code);
  pigeon::engine::cli::register_campaign(app, ctx, exit_code);
  pigeon::engine::cli::register_serve(app, ctx, exit_code);
  pigeon::engine::cli::register_status(app, ctx, exit_code);
  pigeon::engine::cli::register_tools(app, ctx, exit_code);
  pigeon::engine::cli::register_replies(app, ctx, exit_code);
  pigeon::engine::cli::register_report(app, ctx, exit_code);
  pigeon::engine::cli::register_db(app, ctx, exit_code);

  try {
    app.parse_complete_callback([&] {
      ctx.config_given = cfg->count() > 0 || std::getenv("PIGEON_CONFIG");
      // The short commands log to stderr (a stored row skipped, say), so stdout stays their
      // output, --json included; the engine and the simulator keep logging to stdout.
      if (!app.got_subcommand("serve") && !app.got_subcommand("simulate-carrier"))
        spdlog::set_default_logger(spdlog::stderr_color_mt("pigeon"));
    });
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const pigeon::config::config_error& e) {
    pigeon::engine::cli::print_issues(e);
    return 1;
  } catch (const pigeon::engine::store_error& e) {
    std::cerr << "pigeon: database: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "pigeon: " << e.what() << "\n";
    return 2;
  }
  return exit_code;
}
