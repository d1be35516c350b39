#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "config/campaign.hpp"
#include "engine/cli/context.hpp"

namespace pigeon::engine::cli {

// Each register_* adds its subcommands to the app; the callbacks set `exit_code`.
void register_contacts(CLI::App& app, context& ctx, int& exit_code);
void register_campaign(CLI::App& app, context& ctx, int& exit_code);
void register_campaign_plan(CLI::App& campaign, context& ctx, int& exit_code);  // campaign plan
void register_serve(CLI::App& app, context& ctx, int& exit_code);
void register_status(CLI::App& app, context& ctx, int& exit_code);  // status, messages
void register_tools(CLI::App& app, context& ctx, int& exit_code);   // segments, simulate-carrier
void register_replies(CLI::App& app, context& ctx, int& exit_code);
void register_report(CLI::App& app, context& ctx, int& exit_code);
void register_db(CLI::App& app, context& ctx, int& exit_code);  // db copy

// validate_cmd.cpp: `campaign validate FILE` (every error and warning in one pass; returns the
// exit code), and the load apply and preview share: the file's own issues and those that
// need the engine config together, thrown as one config_error.
// `clock` as `--clock` takes it ("" for now, or sim:T: validate as of T).
int validate_campaign_file(const context& ctx, const std::string& file, const std::string& clock);
config::campaign_config load_checked_campaign(const context& ctx, const std::string& file,
                                              config::engine_config& cfg);

}  // namespace pigeon::engine::cli
