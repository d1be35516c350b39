#include "engine/ops/io_fault.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace pigeon::engine::ops {

namespace {

// Prepared before any fault: the handler may only make async-signal-safe calls.
char g_reason_path[4096];
char g_message[1024];

void on_sigbus(int) {
  const auto len = std::strlen(g_message);
  [[maybe_unused]] auto w = ::write(STDERR_FILENO, g_message, len);
  int fd = ::open(g_reason_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    [[maybe_unused]] auto r = ::write(fd, g_message, len);
    ::close(fd);
  }
  ::_exit(74);  // EX_IOERR
}

std::string reason_path(const std::string& database_path) { return database_path + ".stopped"; }

}  // namespace

void install_io_fault_handler(const std::string& database_path) {
  auto path = reason_path(database_path);
  std::snprintf(g_reason_path, sizeof g_reason_path, "%s", path.c_str());
  std::snprintf(g_message, sizeof g_message,
                "pigeon serve: stopped: I/O error (SIGBUS) on the memory-mapped files of the "
                "database %s (its -shm file made unwritable or immutable, its disk full or "
                "removed); what was committed is kept: fix the storage and start serve again\n",
                database_path.c_str());
  struct sigaction action {};
  action.sa_handler = on_sigbus;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGBUS, &action, nullptr);
}

std::optional<std::string> io_fault_reason(const std::string& database_path) {
  std::ifstream in(reason_path(database_path));
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  auto reason = text.str();
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
  if (reason.empty()) return std::nullopt;
  return reason;
}

void clear_io_fault_reason(const std::string& database_path) {
  std::error_code ec;
  std::filesystem::remove(reason_path(database_path), ec);
}

}  // namespace pigeon::engine::ops
