#pragma once

// A clean, logged stop when the database's files fail under the engine's feet. SQLite maps the
// WAL index (`<database>-shm`) into memory: when that file stops being writable or readable
// (made immutable, its disk full or gone), the next access raises SIGBUS, which would kill the
// process with no word. `serve` installs a handler that writes one line on stderr and the
// reason to `<database>.stopped`, then exits 74 (EX_IOERR). What was committed stays committed
// (every transition is durable before its effect), so nothing is lost; `pigeon status` shows the
// reason with the engine_down alert. A clean start removes the file.
//
// Threading: install once, from the main thread, before the store's threads start.

#include <optional>
#include <string>

namespace pigeon::engine::ops {

void install_io_fault_handler(const std::string& database_path);

// The reason a previous `serve` left in `<database>.stopped`, if any (for status).
std::optional<std::string> io_fault_reason(const std::string& database_path);

// Removes `<database>.stopped` (a clean start).
void clear_io_fault_reason(const std::string& database_path);

}  // namespace pigeon::engine::ops
