#include "engine/cli/fd_budget.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace pigeon::engine::cli {

std::size_t raise_open_files_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20
                                         : static_cast<std::size_t>(limit.rlim_cur);
}

std::size_t listener_connection_cap(const config::engine_config& cfg, std::size_t open_files) {
  if (cfg.listen_max_connections > 0) return cfg.listen_max_connections;
  std::size_t reserve = 256;
  for (const auto& [name, p] : cfg.providers) reserve += static_cast<std::size_t>(p.concurrency);
  const std::size_t left = open_files > reserve ? open_files - reserve : 0;
  return std::clamp<std::size_t>(left / 2, 16, 1000000);
}

}  // namespace pigeon::engine::cli
