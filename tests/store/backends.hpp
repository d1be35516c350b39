#pragma once

// The store backends every conformance test runs against. A conformance test is written against
// the store interfaces (engine/store/*_store.hpp) only, and declared with STORE_TEST_CASE: doctest
// runs it once per backend listed in PIGEON_STORE_BACKENDS, and its body opens a fresh, empty
// store of that backend with `backend.open()`. Each interface's suite is one file in
// tests/store/conformance/ (queue_test.cpp pins queue_store.hpp, and so on; transactions_test.cpp
// pins transactions.hpp). A new backend plugs in by adding its type here and passing every suite.
//
// A backend type has: `name` (shown in test output), `store* open()` (a fresh, empty store the
// backend object owns until it is destroyed), `store* reopen()` (the same data through a new
// connection, as after a restart: durability checks).

#include <memory>
#include <string>

#include "engine/store/postgres/postgres_store.hpp"
#include "engine/store/sqlite/sqlite_store.hpp"
#include "engine/store/store.hpp"
#include "tests/store/fixture.hpp"
#include "tests/store/pg_cluster.hpp"

namespace pigeon::engine::test {

// A SQLite file in a temporary directory.
class sqlite_backend {
 public:
  static constexpr const char* name = "sqlite";
  store* open() {
    store_ = sqlite::sqlite_store::open(dir_.file("conformance.db"));
    return store_.get();
  }
  store* reopen() {
    store_.reset();
    return open();
  }

 private:
  temp_dir dir_;
  std::unique_ptr<sqlite::sqlite_store> store_;
};

// A fresh database in the test process's throwaway PostgreSQL cluster (tests/store/pg_cluster.hpp).
class postgres_backend {
 public:
  static constexpr const char* name = "postgres";
  store* open() {
    if (conninfo_.empty()) conninfo_ = pg_cluster::shared().create_database();
    store_.reset();
    store_ = postgres::postgres_store::open(conninfo_);
    return store_.get();
  }
  store* reopen() { return open(); }

 private:
  std::string conninfo_;
  std::unique_ptr<postgres::postgres_store> store_;
};

}  // namespace pigeon::engine::test

#define PIGEON_STORE_BACKENDS \
  pigeon::engine::test::sqlite_backend, pigeon::engine::test::postgres_backend

// TEST_CASE_TEMPLATE's type parameter is named store_backend in the body.
#define STORE_TEST_CASE(name) TEST_CASE_TEMPLATE(name, store_backend, PIGEON_STORE_BACKENDS)
