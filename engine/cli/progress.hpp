#pragma once

// A one-line progress bar on stderr for long CLI operations (contacts import, campaign apply):
// count, rate and ETA, redrawn at most 10 times a second. Silent unless stderr is a terminal,
// so scripts and pipes see nothing.
//
// Threading: one thread. Not copyable.

#include <chrono>
#include <cstdint>
#include <string>

namespace pigeon::engine::cli {

class progress_bar {
 public:
  // `total` 0 means unknown (no bar, no ETA). `enabled` false silences it (e.g. --json).
  progress_bar(std::string label, std::int64_t total, bool enabled = true);
  ~progress_bar();
  progress_bar(const progress_bar&) = delete;
  progress_bar& operator=(const progress_bar&) = delete;

  void set_total(std::int64_t total) { total_ = total; }
  void update(std::int64_t done);
  // Draws the final state and ends the line (also done by the destructor).
  void finish();

  // The line drawn for `done` after `elapsed` (exposed for tests).
  static std::string render(const std::string& label, std::int64_t done, std::int64_t total,
                            std::chrono::duration<double> elapsed);

 private:
  std::string label_;
  std::int64_t total_;
  bool active_;
  bool finished_ = false;
  std::int64_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_{};
};

}  // namespace pigeon::engine::cli
