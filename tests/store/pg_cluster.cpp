#include "tests/store/pg_cluster.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "engine/store/postgres/connection.hpp"

namespace pigeon::engine::test {

namespace {

std::string find_bin() {
  if (const char* bin = std::getenv("PIGEON_PG_BIN")) return bin;
  std::string best;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    auto bin = entry.path() / "bin";
    if (std::filesystem::exists(bin / "initdb") && bin.string() > best) best = bin.string();
  }
  if (best.empty()) {
    throw std::runtime_error(
        "no PostgreSQL server found under /usr/lib/postgresql (scripts/bootstrap.sh installs "
        "postgresql-15; or set PIGEON_PG_BIN)");
  }
  return best;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

pg_cluster& pg_cluster::shared() {
  static pg_cluster cluster;
  return cluster;
}

std::string pg_cluster::run_as_server_user(const std::string& command) const {
  if (::geteuid() != 0) return command;
  return "runuser -u postgres -- " + command;
}

pg_cluster::pg_cluster() : bin_(find_bin()) {
  std::string pattern = "/tmp/pigeon-pg-XXXXXX";
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr || ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("as root, the test cluster runs as user postgres: none found");
  }
  auto initdb = run_as_server_user(bin_ + "/initdb -D " + dir_ +
                                   "/data -U pigeon --auth=trust -E UTF8 --locale=C --no-sync "
                                   "> " +
                                   dir_ + "/initdb.log 2>&1");
  if (std::system(initdb.c_str()) != 0)
    throw std::runtime_error("initdb failed:\n" + read_file(dir_ + "/initdb.log"));
  auto start = run_as_server_user(
      bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w -t 30 -o \"-k " + dir_ +
      " -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=200"
      " -c shared_buffers=32MB\" start > /dev/null 2>&1");
  if (std::system(start.c_str()) != 0)
    throw std::runtime_error("PostgreSQL did not start:\n" + read_file(dir_ + "/server.log"));
}

pg_cluster::~pg_cluster() {
  auto stop = run_as_server_user(bin_ + "/pg_ctl -D " + dir_ +
                                 "/data -m immediate -w stop > /dev/null 2>&1");
  [[maybe_unused]] int rc = std::system(stop.c_str());
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
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
