#include "engine/cli/config_alerts.hpp"

#include <algorithm>

#include "providers/registry.hpp"

namespace pigeon::engine::cli {

void add_config_alerts(ops::status_report& report, const config::engine_config& cfg) {
  for (auto& text : providers::config_warnings(cfg)) {
    report.level = std::max(report.level, ops::alert_level::warning);
    report.alerts.push_back({ops::alert_level::warning, "no_delivery_receipts", std::move(text)});
  }
}

}  // namespace pigeon::engine::cli
