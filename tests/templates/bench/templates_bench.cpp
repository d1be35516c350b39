// Throughput of render + encode + count for a 60-character template with 3 variables.
// Run through scripts/bench_templates.sh; prints messages/s per case and one core.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "templates/segments.hpp"
#include "templates/template.hpp"

using namespace pigeon::templates;

namespace {

// A contact's attributes, as the engine might hold them: looked up by name.
struct contact : variables {
  contact(std::string f, std::string c, std::string d)
      : first_name(std::move(f)), coupon(std::move(c)), days(std::move(d)) {}
  std::string first_name, coupon, days;
  std::optional<std::string_view> find(std::string_view name) const override {
    if (name == "first_name") return first_name;
    if (name == "coupon") return coupon;
    if (name == "days") return days;
    return std::nullopt;
  }
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::size_t characters(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void run(const char* label, const char* text, std::vector<contact> contacts, long iterations) {
  const auto t = compiled_template::compile(text);
  std::string out;
  segment_info info;
  long segments = 0;
  std::size_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  for (long i = 0; i < iterations; ++i) {
    out.clear();
    const auto missing = t.render(contacts[static_cast<std::size_t>(i) % contacts.size()], out);
    count_segments(out, info);
    segments += info.segments + static_cast<long>(missing.size());
    bytes += out.size();
  }
  const double cpu = thread_cpu_seconds() - cpu_start;
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  out.clear();
  t.render(contacts[0], out);
  count_segments(out, info);
  std::printf(
      "%s: %.0f messages/s per core of CPU time (%.0f/s wall clock); %ld messages in "
      "%.3f s CPU, %.3f s wall\n  template (%zu characters): %s\n  e.g. \"%s\" = %s, "
      "%d units, %d segment(s); checksum %ld/%zu\n",
      label, static_cast<double>(iterations) / cpu, static_cast<double>(iterations) / took.count(),
      iterations, cpu, took.count(), characters(text), text, out.c_str(),
      std::string(to_string(info.enc)).c_str(), info.total_units, info.segments, segments, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 20'000'000;
  std::vector<contact> latin, cjk;
  const char* names[] = {"Ana", "Bob", "Carla", "Dmitri", "Eve", "Farid", "Grace", "Hui"};
  const char* cn_names[] = {"小明", "王芳", "李雷", "韩梅梅", "张伟", "刘洋", "陈静", "杨帆"};
  for (int i = 0; i < 64; ++i) {
    latin.emplace_back(names[i % 8], i % 3 ? "Latte" : "", std::to_string(i % 9 + 1));
    cjk.emplace_back(cn_names[i % 8], i % 3 ? "季卡券" : "", std::to_string(i % 9 + 1));
  }
  // 60 characters each (as written), 3 variables, one with a default.
  run("GSM-7", "Hi {{first_name}}, your {{coupon|gift}} ends in {{days}} day", latin, iterations);
  run("UCS-2", "【咖啡】{{first_name}},您的{{coupon|默认券}}还有{{days}}天到期,回1领试用装,回T退订",
      cjk, iterations);
  return 0;
}
