#include "engine/cli/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace pigeon::engine::cli {

progress_bar::progress_bar(std::string label, std::int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      active_(enabled && ::isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()) {}

progress_bar::~progress_bar() { finish(); }

std::string progress_bar::render(const std::string& label, std::int64_t done, std::int64_t total,
                                 std::chrono::duration<double> elapsed) {
  double secs = elapsed.count();
  double rate = secs > 0 ? static_cast<double>(done) / secs : 0;
  char buf[200];
  if (total > 0) {
    constexpr int width = 24;
    int filled = static_cast<int>(width * std::min<std::int64_t>(done, total) / total);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0;
    std::snprintf(buf, sizeof buf, "%s [%s] %lld/%lld  %.0f/s  ETA %.0fs", label.c_str(),
                  bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), rate,
                  eta);
  } else {
    std::snprintf(buf, sizeof buf, "%s %lld  %.0f/s", label.c_str(), static_cast<long long>(done),
                  rate);
  }
  return buf;
}

void progress_bar::update(std::int64_t done) {
  done_ = done;
  if (!active_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  std::fprintf(stderr, "\r\033[K%s", render(label_, done_, total_, now - start_).c_str());
  std::fflush(stderr);
}

void progress_bar::finish() {
  if (!active_ || finished_) return;
  finished_ = true;
  std::fprintf(stderr, "\r\033[K%s\n",
               render(label_, done_, total_, std::chrono::steady_clock::now() - start_).c_str());
  std::fflush(stderr);
}

}  // namespace pigeon::engine::cli
