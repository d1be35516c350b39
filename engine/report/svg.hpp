#pragma once

// The report page's charts as inline SVG (engine/report/html.cpp): drawn here, so the page needs
// no script and no chart library. Each chart is `<svg class="chart" data-chart="NAME">` holding
// one `<g class="series" data-series="LABEL">` per series, followed by an HTML legend. Labels are
// escaped. Pure functions.

#include <cstdint>
#include <string>
#include <vector>

namespace pigeon::engine::report::svg {

// Text for HTML/SVG content and attribute values: & < > " ' escaped.
std::string esc(const std::string& text);
// A path segment: everything but unreserved characters (RFC 3986) percent-encoded.
std::string url_encode(const std::string& text);

struct bar_series {
  std::string label;
  std::vector<std::int64_t> values;  // one per category
};
// Grouped bars: one group per category, one bar per series in each.
std::string bar_chart(const std::string& name, const std::vector<std::string>& categories,
                      const std::vector<bar_series>& series);

struct line_series {
  std::string label;
  std::vector<std::int64_t> values;  // one per x label
};
// Lines over evenly spaced x labels (time buckets).
std::string line_chart(const std::string& name, const std::vector<std::string>& x_labels,
                       const std::vector<line_series>& series);

struct interval {
  std::string label;
  double rate = 0, low = 0, high = 0;  // 0..1
};
// One row per label: the rate as a dot, its interval as a whisker.
std::string interval_chart(const std::string& name, const std::vector<interval>& points);

}  // namespace pigeon::engine::report::svg
