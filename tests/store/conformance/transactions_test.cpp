// Conformance suite of transactional_store (engine/store/transactions.hpp): what transaction()
// undoes, run on every backend.
#include <doctest/doctest.h>

#include "tests/store/backends.hpp"
#include "tests/store/fixture.hpp"

using namespace pigeon::engine;
using pigeon::engine::test::make_message;
using pigeon::engine::test::seed;

STORE_TEST_CASE("a store error inside transaction() rolls back the whole transaction") {
  store_backend backend;
  store* s = backend.open();
  auto ids = seed(*s);
  CHECK_THROWS_AS(s->transaction([&] {
    s->enqueue({make_message("promo", "s1", ids[0], 1000)});
    s->enqueue({make_message("no-such-campaign", "s1", ids[0], 1000)});  // foreign key
  }),
                  store_error);
  CHECK(s->messages({}).empty());
  s->transaction([&] {
    CHECK_THROWS_AS(s->enqueue({make_message("promo", "s1", ids[0], 1000),
                                make_message("promo", "s1", 999, 1000)}),
                    store_error);
    s->enqueue({make_message("promo", "s2", ids[0], 1000)});
  });
  CHECK(s->messages({}).size() == 1);  // the failed enqueue left nothing half-done
}
