#pragma once

// metrics_registry: counters, gauges and fixed-bucket histograms, rendered in the Prometheus
// text exposition format (version 0.0.4) for GET /metrics.
//
// A metric family has a name, a help text and a kind; each distinct set of label values is one
// series. Labels are meant for bounded sets (provider, campaign, state): a family holds at most
// max_series series, and label sets beyond that all go into one series whose label values are
// "_other", so a runaway label cannot grow memory without bound.
//
// Ownership: references returned by counter()/gauge()/histogram() stay valid for the registry's
// lifetime. Threading: not thread safe; use from one thread (the engine's io_context thread).
// Failure: asking for an existing name with another kind, other label names or other buckets is
// a bug (asserts).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pigeon::engine::ops {

using metric_labels = std::vector<std::pair<std::string, std::string>>;  // name -> value

class metric_counter {
 public:
  void inc(double by = 1) { value_ += by; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

class metric_gauge {
 public:
  void set(double v) { value_ = v; }
  void add(double by) { value_ += by; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

class metric_histogram {
 public:
  explicit metric_histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<std::uint64_t>& counts() const {
    return counts_;
  }  // per bucket, not cumulative
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::vector<double> bounds_;  // upper bounds, ascending; +Inf is implicit
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

class metrics_registry {
 public:
  explicit metrics_registry(std::size_t max_series = 500) : max_series_(max_series) {}
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  metric_counter& counter(const std::string& name, const std::string& help,
                          const metric_labels& labels = {});
  metric_gauge& gauge(const std::string& name, const std::string& help,
                      const metric_labels& labels = {});
  // `bounds`: ascending upper bounds of the buckets (+Inf is added).
  metric_histogram& histogram(const std::string& name, const std::string& help,
                              const std::vector<double>& bounds, const metric_labels& labels = {});

  // Every family in name order, its series in label order.
  std::string render() const;

 private:
  enum class kind { counter, gauge, histogram };
  struct series {
    metric_labels labels;
    metric_counter c;
    metric_gauge g;
    std::unique_ptr<metric_histogram> h;
  };
  struct family {
    kind k;
    std::string help;
    std::vector<std::string> label_names;
    std::vector<double> bounds;
    std::map<std::string, std::unique_ptr<series>> by_key;  // key: encoded label values
  };
  series& find(kind k, const std::string& name, const std::string& help,
               const metric_labels& labels, const std::vector<double>& bounds);

  std::size_t max_series_;
  std::map<std::string, family> families_;
};

// Prometheus number text: integers without a fraction, +Inf, -Inf, NaN.
std::string format_metric_value(double v);
// A label value with \, " and newline escaped.
std::string escape_label_value(const std::string& v);

}  // namespace pigeon::engine::ops
