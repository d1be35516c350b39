#pragma once

#include <functional>
#include <stdexcept>

namespace pigeon::engine {

// A failure of the storage layer (I/O, corruption, a schema newer than this binary, a busy
// database past its timeout). Carries a message meant for a person.
class store_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The root of the store interfaces (engine/store/*_store.hpp): each consumer of durable state
// takes the narrow interface it uses — the dispatcher the queue, the webhooks the inbound side,
// apply the campaigns, `report` the read-only reports — and every backend implements them all
// (engine/store/store.hpp gathers them; engine/store/sqlite/sqlite_store.hpp is the SQLite one).
// Nothing outside a backend writes SQL, so each business rule is written once, in the engine.
//
// Threading: a store object is used by one thread at a time (the CLI's, or async_store's writer
// thread); it may move between threads between calls.
//
// Failure: every method is atomic. It commits completely or not at all, and throws store_error
// on failure, leaving what was already stored intact.
class transactional_store {
 public:
  virtual ~transactional_store() = default;
  transactional_store() = default;
  transactional_store(const transactional_store&) = delete;
  transactional_store& operator=(const transactional_store&) = delete;

  // Runs `body` in one transaction; the store's own methods called inside join it (group
  // commit). If `body` throws, the transaction is rolled back and the exception propagates.
  // Nested calls MUST act as savepoints: async_store relies on a failing job undoing only its
  // own work. Pinned by tests/store/conformance/transactions_test.cpp.
  virtual void transaction(const std::function<void()>& body) = 0;
};

}  // namespace pigeon::engine
