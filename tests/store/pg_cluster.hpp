#pragma once

#include <string>

namespace pigeon::engine::test {

// The throwaway PostgreSQL cluster tests use (scripts/pg_test_cluster.sh: initdb into a
// directory in /tmp, a server on a Unix socket there only, fsync off; as user postgres under
// root). Under ctest, one cluster serves the whole run (tests/CMakeLists.txt starts and stops
// it; its directory is compiled in as PIGEON_TEST_PG_DIR); PIGEON_TEST_PG names another running
// one. Otherwise (a test binary run by hand) the process starts its own on first use and stops
// it when it exits.
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

  std::string dir_;     // the server's socket directory
  bool owned_ = false;  // started by this process, stopped at exit
  int databases_ = 0;
};

}  // namespace pigeon::engine::test
