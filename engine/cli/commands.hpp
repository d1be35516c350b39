#pragma once

#include <CLI/CLI.hpp>

#include "engine/cli/context.hpp"

namespace pigeon::cli {

// Each register_* adds its subcommands to the app; the callbacks set `exit_code`.
void register_contacts(CLI::App& app, context& ctx, int& exit_code);
void register_campaign(CLI::App& app, context& ctx, int& exit_code);
void register_campaign_plan(CLI::App& campaign, context& ctx, int& exit_code);  // campaign plan
void register_serve(CLI::App& app, context& ctx, int& exit_code);
void register_status(CLI::App& app, context& ctx, int& exit_code);  // status, messages
void register_tools(CLI::App& app, context& ctx, int& exit_code);   // segments, simulate-carrier
void register_replies(CLI::App& app, context& ctx, int& exit_code);

}  // namespace pigeon::cli
