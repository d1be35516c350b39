#pragma once

#include <atomic>
#include <chrono>

#include "engine/model/model.hpp"

namespace pigeon::engine {

// The engine's notion of "now". Real time in production; a simulated clock for batch runs and
// tests (`serve --clock sim:T`), which advances with real time and can jump forward when idle.
// Threading: now() may be called from any thread; jump_to() from the engine's thread.
class clock {
 public:
  virtual ~clock() = default;
  virtual time_point now() const = 0;
  // Moves a simulated clock forward to `t` (never backwards). A real clock ignores it.
  virtual void jump_to(time_point t) = 0;
  virtual bool simulated() const = 0;
};

class system_clock final : public clock {
 public:
  time_point now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
  void jump_to(time_point) override {}
  bool simulated() const override { return false; }
};

class simulated_clock final : public clock {
 public:
  explicit simulated_clock(time_point start) : offset_ms_((start - real_now()).count()) {}
  time_point now() const override {
    return real_now() + std::chrono::milliseconds(offset_ms_.load());
  }
  void jump_to(time_point t) override {
    auto current = now();
    if (t > current) offset_ms_ += (t - current).count();
  }
  bool simulated() const override { return true; }

 private:
  static time_point real_now() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
  std::atomic<long long> offset_ms_;
};

}  // namespace pigeon::engine
