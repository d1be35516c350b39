#pragma once

#include <string>

namespace pigeon::engine::ops {

// Exclusive right to run the engine on one database: an flock on "<database>.lock", released
// by the kernel when the process dies (SIGKILL included), so a restart after a crash takes it at
// once while a second live `pigeon serve` is refused. Not copyable; released on destruction.
class engine_lock {
 public:
  // Throws std::runtime_error naming the database and the holder's pid when already held.
  explicit engine_lock(const std::string& database_path);
  ~engine_lock();
  engine_lock(const engine_lock&) = delete;
  engine_lock& operator=(const engine_lock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace pigeon::engine::ops
