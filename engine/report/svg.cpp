#include "engine/report/svg.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace pigeon::engine::report::svg {

namespace {

// Colour-blind-safe palette (Okabe-Ito), cycled.
constexpr const char* palette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                   "#56B4E9", "#D55E00", "#F0E442", "#000000"};
const char* colour(std::size_t i) { return palette[i % std::size(palette)]; }

constexpr double width = 600, height = 260, left = 52, right = 10, top = 12, bottom = 46;
constexpr double plot_w = width - left - right, plot_h = height - top - bottom;

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A round upper bound for the y axis (1, 2 or 5 times a power of ten).
double nice_max(double v) {
  if (v <= 0) return 1;
  double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v) return m * p;
  return 10 * p;
}

std::string open(const std::string& name, const std::string& label, double h = height) {
  return "<svg class=\"chart\" data-chart=\"" + esc(name) + "\" viewBox=\"0 0 " + fmt(width) + " " +
         fmt(h) + "\" role=\"img\" aria-label=\"" + esc(label) +
         "\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\" "
         "font-family=\"system-ui,sans-serif\">";
}

// Horizontal grid lines with their values, and the axes.
std::string y_axis(double max, bool percent) {
  std::string s;
  for (int i = 0; i <= 4; ++i) {
    double v = max * i / 4, y = top + plot_h - plot_h * i / 4;
    char label[32];
    if (percent)
      std::snprintf(label, sizeof label, "%g%%", 100 * v);
    else
      std::snprintf(label, sizeof label, "%g", v);
    s += "<line x1=\"" + fmt(left) + "\" x2=\"" + fmt(width - right) + "\" y1=\"" + fmt(y) +
         "\" y2=\"" + fmt(y) + "\" stroke=\"#e3e7ec\"/><text x=\"" + fmt(left - 6) + "\" y=\"" +
         fmt(y + 4) + "\" text-anchor=\"end\" fill=\"#5b6775\">" + label + "</text>";
  }
  return s;
}

std::string legend(const std::vector<std::string>& labels) {
  std::string s = "<div class=\"legend\">";
  for (std::size_t i = 0; i < labels.size(); ++i)
    s += "<span><i style=\"background:" + std::string(colour(i)) + "\"></i>" + esc(labels[i]) +
         "</span>";
  return s + "</div>";
}

std::string text(double x, double y, const std::string& t, const char* anchor = "middle") {
  return "<text x=\"" + fmt(x) + "\" y=\"" + fmt(y) + "\" text-anchor=\"" + anchor +
         "\" fill=\"#1d2733\">" + esc(t) + "</text>";
}

}  // namespace

std::string esc(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string url_encode(const std::string& in) {
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string bar_chart(const std::string& name, const std::vector<std::string>& categories,
                      const std::vector<bar_series>& series) {
  std::int64_t top_value = 0;
  for (const auto& s : series)
    for (auto v : s.values) top_value = std::max(top_value, v);
  const double max = nice_max(static_cast<double>(top_value));
  std::string out = open(name, name + " chart") + y_axis(max, false);
  const double group = plot_w / static_cast<double>(std::max<std::size_t>(1, categories.size()));
  const double bar = group * 0.8 / static_cast<double>(std::max<std::size_t>(1, series.size()));
  for (std::size_t c = 0; c < categories.size(); ++c)
    out += text(left + group * (static_cast<double>(c) + 0.5), height - bottom + 16, categories[c]);
  for (std::size_t i = 0; i < series.size(); ++i) {
    out += "<g class=\"series\" data-series=\"" + esc(series[i].label) + "\" fill=\"" + colour(i) +
           "\">";
    for (std::size_t c = 0; c < series[i].values.size() && c < categories.size(); ++c) {
      const double v = static_cast<double>(series[i].values[c]);
      const double h = plot_h * v / max;
      const double x =
          left + group * static_cast<double>(c) + group * 0.1 + bar * static_cast<double>(i);
      out += "<rect x=\"" + fmt(x) + "\" y=\"" + fmt(top + plot_h - h) + "\" width=\"" +
             fmt(std::max(1.0, bar - 1)) + "\" height=\"" + fmt(std::max(h, v > 0 ? 1.0 : 0.0)) +
             "\"><title>" + esc(series[i].label + ", " + categories[c] + ": ") +
             std::to_string(series[i].values[c]) + "</title></rect>";
    }
    out += "</g>";
  }
  std::vector<std::string> labels;
  for (const auto& s : series) labels.push_back(s.label);
  return out + "</svg>" + legend(labels);
}

std::string line_chart(const std::string& name, const std::vector<std::string>& x_labels,
                       const std::vector<line_series>& series) {
  std::int64_t top_value = 0;
  for (const auto& s : series)
    for (auto v : s.values) top_value = std::max(top_value, v);
  const double max = nice_max(static_cast<double>(top_value));
  std::string out = open(name, name + " chart") + y_axis(max, false);
  const std::size_t n = x_labels.size();
  auto x_of = [&](std::size_t i) {
    return n <= 1 ? left + plot_w / 2
                  : left + plot_w * static_cast<double>(i) / static_cast<double>(n - 1);
  };
  if (n == 0) out += text(left + plot_w / 2, top + plot_h / 2, "no activity yet");
  std::vector<std::size_t> ticks;  // first, middle and last bucket
  if (n > 0) ticks.push_back(0);
  if (n > 2) ticks.push_back(n / 2);
  if (n > 1) ticks.push_back(n - 1);
  for (auto i : ticks)
    out += text(x_of(i), height - bottom + 16, x_labels[i],
                n == 1 || (i != 0 && i != n - 1) ? "middle"
                : i == 0                         ? "start"
                                                 : "end");
  for (std::size_t s = 0; s < series.size(); ++s) {
    out += "<g class=\"series\" data-series=\"" + esc(series[s].label) + "\" stroke=\"" +
           colour(s) + "\" fill=\"" + colour(s) +
           "\"><polyline fill=\"none\" stroke-width=\"2\" "
           "points=\"";
    std::string dots;
    for (std::size_t i = 0; i < series[s].values.size() && i < n; ++i) {
      const double y = top + plot_h - plot_h * static_cast<double>(series[s].values[i]) / max;
      out += fmt(x_of(i)) + "," + fmt(y) + " ";
      if (n <= 40)
        dots += "<circle cx=\"" + fmt(x_of(i)) + "\" cy=\"" + fmt(y) + "\" r=\"2.5\"><title>" +
                esc(series[s].label + " " + x_labels[i] + ": ") +
                std::to_string(series[s].values[i]) + "</title></circle>";
    }
    out += "\"/>" + dots + "</g>";
  }
  std::vector<std::string> labels;
  for (const auto& s : series) labels.push_back(s.label);
  return out + "</svg>" + legend(labels);
}

std::string interval_chart(const std::string& name, const std::vector<interval>& points) {
  double top_value = 0;
  for (const auto& p : points) top_value = std::max(top_value, p.high);
  const double max = std::min(1.0, nice_max(top_value));
  // One 40-unit row per variant: the chart grows with them instead of stretching two rows.
  const double row = 40,
               rows_h = row * static_cast<double>(std::max<std::size_t>(1, points.size()));
  const double h = top + rows_h + 30;
  // Rates run along x here: grid lines are vertical.
  std::string out = open(name, name + " chart", h);
  for (int i = 0; i <= 4; ++i) {
    const double x = left + plot_w * i / 4;
    char label[32];
    std::snprintf(label, sizeof label, "%g%%", 100 * max * i / 4);
    out += "<line x1=\"" + fmt(x) + "\" x2=\"" + fmt(x) + "\" y1=\"" + fmt(top) + "\" y2=\"" +
           fmt(top + rows_h) + "\" stroke=\"#e3e7ec\"/>" + text(x, top + rows_h + 16, label);
  }
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    labels.push_back(p.label);
    const double y = top + row * (static_cast<double>(i) + 0.5);
    auto x = [&](double v) { return left + plot_w * std::clamp(v / max, 0.0, 1.0); };
    char title[96];
    std::snprintf(title, sizeof title, ": %.1f%% (95%% interval %.1f-%.1f%%)", 100 * p.rate,
                  100 * p.low, 100 * p.high);
    out += "<g class=\"series\" data-series=\"" + esc(p.label) + "\" stroke=\"" + colour(i) +
           "\" fill=\"" + colour(i) + "\"><title>" + esc(p.label + title) + "</title>" +
           text(left - 6, y + 4, p.label, "end") + "<line x1=\"" + fmt(x(p.low)) + "\" x2=\"" +
           fmt(x(p.high)) + "\" y1=\"" + fmt(y) + "\" y2=\"" + fmt(y) +
           "\" stroke-width=\"3\"/><circle cx=\"" + fmt(x(p.rate)) + "\" cy=\"" + fmt(y) +
           "\" r=\"6\"/></g>";
  }
  return out + "</svg>" + legend(labels);
}

}  // namespace pigeon::engine::report::svg
