#pragma once

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "engine/store/sqlite/sqlite_store.hpp"

namespace pigeon::engine::test {

// A fresh directory under the system temp dir, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "pigeon-store-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Runs `sql` on the SQLite file `path` through a connection of its own (what another program
// would do to the file): the error message, or "" when it ran.
inline std::string run_sqlite(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  if (sqlite3_open(path.c_str(), &raw) != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : "cannot open " + path;
    sqlite3_close(raw);
    return msg;
  }
  char* err = nullptr;
  int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = rc == SQLITE_OK ? "" : err ? err : "error " + std::to_string(rc);
  sqlite3_free(err);
  sqlite3_close(raw);
  return msg;
}

inline time_point at_ms(std::int64_t ms) { return time_point(std::chrono::milliseconds(ms)); }

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t t0 = 1'893'974'400'000;  // 2030-01-07T00:00:00Z

inline stored_campaign make_campaign(const std::string& name, const std::string& hash,
                                     std::vector<std::string> steps = {"s1"}) {
  stored_campaign c;
  c.name = name;
  c.content_hash = hash;
  c.sender = "coffee";
  c.category = "marketing";
  c.priority = 5;
  c.source_path = "config/" + name + ".yaml";
  c.source_text = "campaign: " + name;
  for (const auto& step : steps) {
    c.templates.push_back(
        {step, "A", 100, "sms", "hello " + step + " " + hash, "", {}, false, {}, {}});
  }
  return c;
}

inline contact make_contact(const std::string& phone) {
  contact c;
  c.phone = phone;
  c.tags = {"member"};
  c.attributes["first_name"] = "Li";
  c.tz = "Asia/Shanghai";
  return c;
}

inline new_message make_message(const std::string& campaign, const std::string& step,
                                std::int64_t contact_id, std::int64_t due_ms) {
  return {campaign, step, "A", contact_id, at_ms(due_ms), std::nullopt};
}

// A store with campaign "promo" (steps s1, s2) and `contacts` contacts; returns their ids.
inline std::vector<std::int64_t> seed(store& s, int contacts = 2) {
  s.save_campaign(make_campaign("promo", "h1", {"s1", "s2"}));
  std::vector<contact> cs;
  for (int i = 0; i < contacts; ++i)
    cs.push_back(make_contact("+861380000000" + std::to_string(i)));
  return s.upsert_contacts(cs);
}

// Four messages of campaign "promo" (step s1), due at 1 s; returns `s`.
inline store* seed(store* s) {
  s->save_campaign(make_campaign("promo", "h1"));
  std::vector<contact> cs;
  for (int i = 0; i < 4; ++i) cs.push_back(make_contact("+861380000000" + std::to_string(i)));
  auto ids = s->upsert_contacts(cs);
  std::vector<new_message> ms;
  for (auto id : ids) ms.push_back(make_message("promo", "s1", id, 1000));
  s->enqueue(ms);
  return s;
}

// The one message in the store (a test failure when there are none or several).
inline message_row only_message(store& s) {
  auto rows = s.messages({});
  REQUIRE(rows.size() == 1);
  return rows.front();
}

// Sends claimed message `id` as the dispatcher would: its intent at `at_ms` (body "hi" via
// "main"), then its `submitted` outcome with `carrier_id` 100 ms later.
inline void send_claimed(store& s, std::int64_t id, const std::string& carrier_id,
                         std::int64_t at_ms_) {
  REQUIRE(s.mark_submitting({{id, "main", "hi", 1, at_ms(at_ms_), {}}}).size() == 1);
  s.record_outcomes(
      {{id, message_state::submitted, "main", carrier_id, "", std::nullopt, at_ms(at_ms_ + 100)}});
}

// `n` contacts with attribute n = first, first + 1, ...; returns their ids.
inline std::vector<std::int64_t> add_contacts(store& s, int n, int first = 0) {
  std::vector<contact> cs;
  for (int i = first; i < first + n; ++i) {
    auto c = make_contact("+86139" + std::to_string(10000000 + i));
    c.attributes["n"] = i;
    cs.push_back(c);
  }
  return s.upsert_contacts(cs);
}

// Stores a reply from `contact_id` and matches it to `campaign` ('' when not attributed) with
// `keyword`, as the reply engine does: record_reply, then update_reply. `carrier_id` must be new
// (a repeated one is a carrier retrying its callback and is not stored again).
inline void record_matched_reply(inbound_store& s, std::int64_t contact_id,
                                 const std::string& campaign, const std::string& keyword,
                                 const std::string& text, const std::string& carrier_id,
                                 time_point at) {
  reply_row r;
  r.provider = "test";
  r.carrier_id = carrier_id;
  r.contact_id = contact_id;
  r.text = text;
  r.normalized = text;
  r.at = at;
  r.id = s.record_reply(r);
  r.campaign = campaign;
  r.keyword = keyword;
  s.update_reply(r);
}

}  // namespace pigeon::engine::test
