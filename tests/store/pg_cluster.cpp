#include "tests/store/pg_cluster.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "engine/store/postgres/connection.hpp"

namespace pigeon::engine::test {

namespace {

#ifdef PIGEON_SOURCE_DIR
const std::string script = std::string(PIGEON_SOURCE_DIR) + "/scripts/pg_test_cluster.sh";
#else
const std::string script = "scripts/pg_test_cluster.sh";
#endif

}  // namespace

pg_cluster& pg_cluster::shared() {
  static pg_cluster cluster;
  return cluster;
}

pg_cluster::pg_cluster() {
  if (const char* dir = std::getenv("PIGEON_TEST_PG"); dir && *dir) {
    dir_ = dir;  // a running cluster named by the caller
    return;
  }
#ifdef PIGEON_TEST_PG_DIR
  // The ctest run's cluster (tests/CMakeLists.txt), when it is up: started and stopped by ctest.
  if (std::filesystem::exists(std::string(PIGEON_TEST_PG_DIR) + "/.s.PGSQL.5432")) {
    dir_ = PIGEON_TEST_PG_DIR;
    return;
  }
#endif
  dir_ = "/tmp/pigeon-pg-" + std::to_string(::getpid());
  owned_ = true;
  auto start = script + " start " + dir_ + " > /dev/null";
  if (std::system(start.c_str()) != 0)
    throw std::runtime_error("the test PostgreSQL cluster did not start (" + start + ")");
}

pg_cluster::~pg_cluster() {
  if (!owned_) return;
  auto stop = script + " stop " + dir_;
  [[maybe_unused]] int rc = std::system(stop.c_str());
}

std::string pg_cluster::conninfo(const std::string& name) const {
  return "host=" + dir_ + " user=pigeon dbname=" + name;
}

std::string pg_cluster::create_database() {
  auto name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  postgres::connection admin(conninfo("postgres"));
  admin.exec("CREATE DATABASE " + name);
  return conninfo(name);
}

}  // namespace pigeon::engine::test
