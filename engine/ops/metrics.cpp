#include "engine/ops/metrics.hpp"

#include <cassert>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace pigeon::engine::ops {

namespace {

std::string escape_help(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string label_text(const metric_labels& labels, const std::string& extra_name = {},
                       const std::string& extra_value = {}) {
  std::string out;
  auto add = [&](const std::string& k, const std::string& v) {
    out += out.empty() ? "{" : ",";
    out += k + "=\"" + escape_label_value(v) + "\"";
  };
  for (const auto& [k, v] : labels) add(k, v);
  if (!extra_name.empty()) add(extra_name, extra_value);
  if (!out.empty()) out += "}";
  return out;
}

}  // namespace

std::string format_metric_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", v);
    // Shortest text that reads back the same.
    for (int precision = 1; precision < 17; ++precision) {
      char shorter[40];
      std::snprintf(shorter, sizeof shorter, "%.*g", precision, v);
      if (std::strtod(shorter, nullptr) == v) {
        return shorter;
      }
    }
  }
  return buf;
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void metric_histogram::observe(double v) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (v <= bounds_[i]) {
      ++counts_[i];
      break;
    }
  }
  ++count_;
  sum_ += v;
}

metrics_registry::series& metrics_registry::find(kind k, const std::string& name,
                                                 const std::string& help,
                                                 const metric_labels& labels,
                                                 const std::vector<double>& bounds) {
  auto [it, fresh] = families_.try_emplace(name);
  family& f = it->second;
  if (fresh) {
    f.k = k;
    f.help = help;
    f.bounds = bounds;
    for (const auto& l : labels) f.label_names.push_back(l.first);
  }
  assert(f.k == k && f.bounds == bounds && f.label_names.size() == labels.size());
  std::string key;
  for (const auto& [n, v] : labels) key += v + '\x1f';
  auto s = f.by_key.find(key);
  if (s != f.by_key.end()) return *s->second;
  metric_labels stored = labels;
  if (f.by_key.size() >= max_series_) {
    // Over the cardinality bound: everything new shares one overflow series.
    key.clear();
    for (auto& [n, v] : stored) {
      v = "_other";
      key += v + '\x1f';
    }
    s = f.by_key.find(key);
    if (s != f.by_key.end()) return *s->second;
  }
  auto made = std::make_unique<series>();
  made->labels = std::move(stored);
  if (k == kind::histogram) made->h = std::make_unique<metric_histogram>(bounds);
  return *f.by_key.emplace(key, std::move(made)).first->second;
}

metric_counter& metrics_registry::counter(const std::string& name, const std::string& help,
                                          const metric_labels& labels) {
  return find(kind::counter, name, help, labels, {}).c;
}

metric_gauge& metrics_registry::gauge(const std::string& name, const std::string& help,
                                      const metric_labels& labels) {
  return find(kind::gauge, name, help, labels, {}).g;
}

metric_histogram& metrics_registry::histogram(const std::string& name, const std::string& help,
                                              const std::vector<double>& bounds,
                                              const metric_labels& labels) {
  return *find(kind::histogram, name, help, labels, bounds).h;
}

std::string metrics_registry::render() const {
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.k == kind::counter ? "counter"
                       : f.k == kind::gauge ? "gauge"
                                            : "histogram";
    out += "# HELP " + name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + name + " " + type + "\n";
    for (const auto& [key, s] : f.by_key) {
      if (f.k == kind::counter) {
        out += name + label_text(s->labels) + " " + format_metric_value(s->c.value()) + "\n";
      } else if (f.k == kind::gauge) {
        out += name + label_text(s->labels) + " " + format_metric_value(s->g.value()) + "\n";
      } else {
        const auto& h = *s->h;
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.bounds().size(); ++i) {
          cumulative += h.counts()[i];
          out += name + "_bucket" +
                 label_text(s->labels, "le", format_metric_value(h.bounds()[i])) + " " +
                 std::to_string(cumulative) + "\n";
        }
        out += name + "_bucket" + label_text(s->labels, "le", "+Inf") + " " +
               std::to_string(h.count()) + "\n";
        out += name + "_sum" + label_text(s->labels) + " " + format_metric_value(h.sum()) + "\n";
        out += name + "_count" + label_text(s->labels) + " " + std::to_string(h.count()) + "\n";
      }
    }
  }
  return out;
}

}  // namespace pigeon::engine::ops
