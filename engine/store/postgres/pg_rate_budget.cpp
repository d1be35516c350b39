#include "engine/store/postgres/pg_rate_budget.hpp"

#include <algorithm>
#include <charconv>

#include "engine/store/postgres/connection.hpp"
#include "engine/store/transactions.hpp"

namespace pigeon::engine::postgres {

namespace {

std::string number(double v) {
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : std::string("0");
}

// The bucket after refilling on the server's clock: $2 capacity, $3 tokens per microsecond.
// n.us is read before the row lock is waited for, so it may be older than the at_us another
// node just wrote: no refill then, never a negative one. Refills telescope (each take sets at_us
// to its n.us), so rounding never adds up across takes.
constexpr const char* available =
    "LEAST($2::float8, tokens + GREATEST(0, n.us - at_us) * $3::float8)";

// $4 the least that may be granted (need, at most the capacity), $5 need, $6 want.
std::string take_sql() {
  const std::string avail = available;
  const std::string grant = "CASE WHEN " + avail +
                            " + 1e-9 >= $4::float8 THEN GREATEST($5::float8, "
                            "LEAST(" +
                            avail + ", $6::float8)) ELSE 0 END";
  return "UPDATE rate_budgets SET granted = " + grant + ", tokens = " + avail + " - " + grant +
         ", at_us = GREATEST(at_us, n.us) "
         "FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us) n "
         "WHERE provider = $1 RETURNING granted, tokens";
}

}  // namespace

postgres_rate_budget::postgres_rate_budget(std::string url) : url_(std::move(url)) { connect(); }

postgres_rate_budget::~postgres_rate_budget() = default;

void postgres_rate_budget::connect() {
  db_.reset();
  rows_.clear();
  auto db = std::make_unique<postgres::connection>(url_);
  db->exec("SET synchronous_commit = off");
  db->exec("SET lock_timeout = '2s'");
  db_ = std::move(db);
}

dispatch::budget_grant postgres_rate_budget::take(const dispatch::budget_request& r) {
  try {
    if (!db_) connect();
    if (!rows_.count(r.provider)) {
      query(*db_,
            "INSERT INTO rate_budgets (provider, tokens, at_us) VALUES ($1, 0, 0) "
            "ON CONFLICT (provider) DO NOTHING")
          .bind(1, r.provider)
          .run();
      rows_.insert(r.provider);
    }
    static const std::string sql = take_sql();
    const auto terms = dispatch::terms_for(r.rate, r.burst);
    query q(*db_, sql);
    q.bind(1, r.provider)
        .bind(2, number(terms.capacity))
        .bind(3, number(r.rate / 1e6))
        .bind(4, number(std::min(r.need, terms.capacity)))
        .bind(5, number(r.need))
        .bind(6, number(std::max(r.want, r.need)));
    if (!q.step()) throw store_error("no rate_budgets row for provider " + r.provider);
    const double granted = q.get_double(0);
    if (granted > 0) return {granted, {}};
    // Nothing: when to ask again, from the bucket as this take left it.
    return dispatch::take_from(q.get_double(1), {}, r).grant;
  } catch (const store_error& e) {
    db_.reset();  // the next take connects again
    throw store_error("shared rate budget of provider " + r.provider + ": " + e.what());
  }
}

}  // namespace pigeon::engine::postgres
