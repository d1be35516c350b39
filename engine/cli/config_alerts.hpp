#pragma once

#include "config/engine_config.hpp"
#include "engine/ops/status_report.hpp"

namespace pigeon::engine::cli {

// Adds a warning to `report` for each setting that is valid but makes pigeon silently lose
// something (providers::config_warnings: a kannel provider without webhook_token never gets a
// delivery receipt), as `no_delivery_receipts`. `pigeon status` and the admin /status call it.
void add_config_alerts(ops::status_report& report, const config::engine_config& cfg);

}  // namespace pigeon::engine::cli
