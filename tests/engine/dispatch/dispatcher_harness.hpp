#pragma once
// Shared by the dispatcher tests: run a dispatcher to idle and read back the queue.

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "engine/dispatch/dispatcher.hpp"
#include "engine/store/async_store.hpp"

namespace pigeon::engine::testing {

// A carrier dialect that asks carrier.test to send each message on its own and takes every reply
// as accepted, its body the carrier id: for tests about the engine, not about verdicts.
class accepting_codec final : public carrier_codec {
 public:
  std::string_view kind() const override { return "test"; }
  http_request build_submit(const outbound_message& m) const override {
    return {"POST", "http://carrier.test/send?to=" + m.to, {}, m.text};
  }
  submit_verdict parse_submit_reply(const http_response& r) const override {
    return accepted{r.body};
  }
};

// Runs `d` (built with until_idle) on `ioc` until run() returns; fails the test if it has not
// returned within `bound`, and rethrows what run() threw.
inline void run_to_idle(boost::asio::io_context& ioc, dispatch::dispatcher& d,
                        std::chrono::seconds bound = std::chrono::seconds(60)) {
  bool done = false;
  boost::asio::co_spawn(ioc, d.run(), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  ioc.run_for(bound);
  REQUIRE(done);
}

// Every message row, read on the store's writer thread (so after every job queued before).
inline std::vector<message_row> all_rows(async_store& queue) {
  std::promise<std::vector<message_row>> p;
  queue.async_run<std::vector<message_row>>(
      [](store& s) { return s.messages({}); },
      [&](std::exception_ptr, std::vector<message_row> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

// Stores n contacts, +8613910000000, +8613910000001, ...; their ids in that order.
inline std::vector<std::int64_t> add_contacts(store& s, int n) {
  std::vector<contact> cs;
  for (int i = 0; i < n; ++i) {
    contact c;
    c.phone = "+86139" + std::to_string(10000000 + i);
    cs.push_back(c);
  }
  return s.upsert_contacts(cs);
}

// Stores campaign "promo" (sender "shop", transactional) with these steps.
inline void add_promo_campaign(store& s, std::vector<campaign_template> steps) {
  stored_campaign camp;
  camp.name = "promo";
  camp.sender = "shop";
  camp.category = "transactional";
  camp.content_hash = "h1";
  camp.templates = std::move(steps);
  s.save_campaign(camp);
}

// Runs one statement on its own connection to the database file (what another process sees:
// committed data only); the first column of its first row, or "".
inline std::string sql_text(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* conn = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(conn, 5000);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(conn, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string out;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0))
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  CHECK((rc == SQLITE_ROW || rc == SQLITE_DONE));
  sqlite3_finalize(stmt);
  sqlite3_close(conn);
  return out;
}

}  // namespace pigeon::engine::testing
