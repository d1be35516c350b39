#pragma once

// File descriptors for `pigeon serve`: the soft RLIMIT_NOFILE raised to the hard limit at start,
// and the number of connections each listener may hold, so that idle or slow clients can never
// take the descriptors the store, the WAL checkpointer, zoneinfo reads and the carriers'
// connections need (with 1,024 descriptors, 1,010 idle webhook connections once made sends fail).

#include <cstddef>

#include "config/engine_config.hpp"

namespace pigeon::engine::cli {

// Raises the soft limit on open files to the hard limit; returns the soft limit now in force.
std::size_t raise_open_files_limit();

// Connections per listener (webhooks, admin): `listen.max_connections` when set, else half of
// what the open-files limit leaves after a reserve of 256 plus the providers' concurrencies
// (their connections), at least 16.
std::size_t listener_connection_cap(const config::engine_config& cfg, std::size_t open_files);

}  // namespace pigeon::engine::cli
