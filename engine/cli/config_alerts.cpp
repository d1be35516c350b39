#include "engine/cli/config_alerts.hpp"

#include <algorithm>

#include "providers/registry.hpp"

namespace pigeon::cli {

void add_config_alerts(engine::status_report& report, const config::engine_config& cfg) {
  for (auto& text : providers::config_warnings(cfg)) {
    report.level = std::max(report.level, engine::alert_level::warning);
    report.alerts.push_back(
        {engine::alert_level::warning, "no_delivery_receipts", std::move(text)});
  }
}

}  // namespace pigeon::cli
