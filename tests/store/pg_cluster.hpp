#pragma once

#include <string>

namespace pigeon::engine::test {

// A throwaway PostgreSQL cluster for tests (Debian postgresql-15, installed by
// scripts/bootstrap.sh): initdb into a temporary directory, a server listening on a Unix socket
// in that directory only (no TCP port: nothing to collide with, nothing off the machine), fsync
// off. Started on first use, stopped and removed when the test process exits.
//
// As root (CI), initdb and the server run as the `postgres` user, which refuses root.
// PIGEON_PG_BIN overrides the directory of initdb and pg_ctl (default: the newest
// /usr/lib/postgresql/*/bin).
class pg_cluster {
 public:
  // The process's cluster, started on the first call. Throws std::runtime_error with the
  // server's log when it cannot start.
  static pg_cluster& shared();
  // Creates a new, empty database and returns its libpq connection string.
  std::string create_database();
  // The libpq connection string of database `name`.
  std::string conninfo(const std::string& name) const;

  ~pg_cluster();
  pg_cluster(const pg_cluster&) = delete;
  pg_cluster& operator=(const pg_cluster&) = delete;

 private:
  pg_cluster();
  std::string run_as_server_user(const std::string& command) const;

  std::string bin_;
  std::string dir_;
  int databases_ = 0;
};

}  // namespace pigeon::engine::test
