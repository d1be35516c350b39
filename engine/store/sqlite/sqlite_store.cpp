#include "engine/store/sqlite/sqlite_store.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <filesystem>

#include "engine/model/phone.hpp"
#include "engine/store/queue_rows.hpp"
#include "engine/store/sqlite/database.hpp"
#include "engine/store/sqlite/migrations.hpp"
#include "engine/store/sqlite/rows.hpp"
#include "engine/store/sqlite/wal_checkpointer.hpp"

namespace pigeon::engine::sqlite {

sqlite_store::sqlite_store(std::string path) : path_(std::move(path)) {}

sqlite_store::~sqlite_store() = default;

std::unique_ptr<sqlite_store> sqlite_store::open(const std::string& path, open_mode mode) {
  if (path.empty()) throw store_error("cannot open database: the path is empty");
  bool plain_file = path != ":memory:" && !path.starts_with("file:");
  if (plain_file && mode == open_mode::existing && !std::filesystem::exists(path)) {
    throw store_error("no database at " + path +
                      " (nothing imported or applied yet, or a wrong --db or `database:`); "
                      "`pigeon contacts import` or `pigeon campaign apply` creates one");
  }
  if (plain_file && mode == open_mode::create) {
    auto parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      throw store_error("cannot open database " + path + ": cannot create directory " +
                        parent.string() + ": " + ec.message());
    }
  }
  std::unique_ptr<sqlite_store> s(new sqlite_store(path));
  s->db_ = std::make_unique<sqlite::database>(path, /*read_only=*/false,
                                              /*create=*/mode == open_mode::create);
  auto& db = *s->db_;
  try {
    // busy_timeout first so that the following statements wait for a concurrent writer.
    db.exec("PRAGMA busy_timeout = 5000");
    // The first statement that reads the file: a non-database fails here.
    db.query_int("PRAGMA user_version");
    db.exec("PRAGMA journal_mode = WAL");
    // FULL: the WAL is synced at every commit, so mark_submitting is durable before the
    // request leaves; async_store's group commit shares that fsync among many jobs.
    db.exec("PRAGMA synchronous = FULL");
    db.exec("PRAGMA foreign_keys = ON");
    // 64 MB of page cache (default 2 MB): a million-message apply or a large backlog otherwise
    // re-reads index pages through read() (apply: system time 2.0 s -> 0.7 s, BENCHMARKS.md).
    // Allocated as pages are used, so a small database costs nothing extra.
    db.exec("PRAGMA cache_size = -65536");
    // Statement and savepoint journals in memory, not in temp files: every store job is a
    // savepoint (async_store's group commit) and every multi-row UPDATE a statement, and each
    // page they first touch was copied to a temp file with its own pwrite (dispatch: 19.5
    // pwrite calls per message, 3.4 with this; BENCHMARKS.md). The copies live until the
    // savepoint ends, so memory grows only with pages modified in one transaction.
    db.exec("PRAGMA temp_store = MEMORY");
  } catch (const store_error& e) {
    int code = sqlite3_errcode(db.handle());
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
      throw store_error("database " + path +
                        " is not a pigeon database or is corrupt: " + e.what());
    }
    throw store_error("cannot open database " + path + ": " + e.what());
  }
  // A database of another application (tables, but no pigeon schema) is never migrated into.
  if (db.query_int("PRAGMA user_version") == 0 &&
      db.query_int("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                   "AND name NOT IN ('schema_migrations') AND name NOT LIKE 'sqlite_%'") > 0) {
    throw store_error("database " + path +
                      " is not a pigeon database: it has tables but no pigeon schema");
  }
  sqlite::migrate(db, sqlite::wall_clock_ms());
  s->claims_.register_sql_function(db.handle());
  return s;
}

std::unique_ptr<sqlite_store> sqlite_store::open_reader(const std::string& path) {
  std::unique_ptr<sqlite_store> s(new sqlite_store(path));
  s->reader_ = true;
  s->db_ = std::make_unique<sqlite::database>(path, /*read_only=*/true);
  auto& db = *s->db_;
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    auto version = db.query_int("PRAGMA user_version");
    if (version != sqlite::latest_schema_version()) {
      throw store_error("schema version " + std::to_string(version) + ", expected " +
                        std::to_string(sqlite::latest_schema_version()));
    }
    db.exec("PRAGMA cache_size = -65536");
    db.exec("PRAGMA temp_store = MEMORY");
    s->claims_.register_sql_function(db.handle());  // none held: the queries read the same
  } catch (const store_error& e) {
    throw store_error("cannot open database " + path + " for reading: " + e.what());
  }
  return s;
}

void sqlite_store::checkpoint_in_background() {
  if (checkpointer_) return;
  query q(*db_, "PRAGMA journal_mode");
  if (!q.step() || q.get_text(0) != "wal") return;
  checkpointer_ = std::make_unique<sqlite::wal_checkpointer>(*db_);
}

std::int64_t sqlite_store::background_checkpoints() const {
  return checkpointer_ ? checkpointer_->counts().background : 0;
}

// --- atomicity ---------------------------------------------------------------------------------

// Top level: BEGIN IMMEDIATE takes the write lock up front, so a writer waits (busy_timeout)
// instead of failing with SQLITE_BUSY_SNAPSHOT when upgrading a read. Nested: a savepoint, so
// a failure undoes only the nested work. SQLite allows savepoints of the same name to nest.
// Through the statement cache (not sqlite3_exec, which parses the text every time): every store
// job and every method inside it opens a savepoint, several per webhook or per dispatch flush.
void sqlite_store::begin(bool nested) {
  static const std::string savepoint = "SAVEPOINT pigeon", immediate = "BEGIN IMMEDIATE",
                           deferred = "BEGIN";
  query(*db_, nested ? savepoint : reader_ ? deferred : immediate).run();
  claims_.begin();
}

void sqlite_store::commit(bool nested) {
  static const std::string release = "RELEASE pigeon", commit = "COMMIT";
  query(*db_, nested ? release : commit).run();
  claims_.commit();
}

void sqlite_store::rollback(bool nested) noexcept {
  static const std::string rollback_to = "ROLLBACK TO pigeon", release = "RELEASE pigeon",
                           rollback = "ROLLBACK";
  try {
    // After some errors (I/O, full disk) SQLite has already rolled back the whole transaction;
    // then there is nothing left to undo here and the outer COMMIT reports the failure.
    if (nested && db_->in_transaction()) {
      query(*db_, rollback_to).run();
      query(*db_, release).run();
    } else if (!nested && db_->in_transaction()) {
      query(*db_, rollback).run();
    }
  } catch (const store_error&) {
  }
  claims_.rollback();
}

void sqlite_store::atomically(const char* what, const std::function<void()>& body) {
  bool nested = db_->in_transaction();
  try {
    begin(nested);
  } catch (const store_error& e) {
    throw store_error("database " + path_ + ": " + what + ": " + e.what());
  }
  try {
    body();
    commit(nested);
  } catch (const store_error& e) {
    rollback(nested);
    throw store_error("database " + path_ + ": " + what + ": " + e.what());
  } catch (...) {
    rollback(nested);
    throw;
  }
}

void sqlite_store::transaction(const std::function<void()>& body) {
  bool nested = db_->in_transaction();
  try {
    begin(nested);
  } catch (const store_error& e) {
    throw store_error("database " + path_ + ": begin transaction: " + e.what());
  }
  try {
    body();
  } catch (...) {
    rollback(nested);
    throw;
  }
  try {
    commit(nested);
  } catch (const store_error& e) {
    rollback(nested);
    throw store_error("database " + path_ + ": commit: " + e.what());
  }
}

// --- contacts ----------------------------------------------------------------------------------

std::vector<std::int64_t> sqlite_store::upsert_contacts(const std::vector<contact>& contacts) {
  std::vector<std::int64_t> ids;
  ids.reserve(contacts.size());
  atomically("upsert contacts", [&] {
    auto now = sqlite::wall_clock_ms();
    for (const auto& c : contacts) {
      // The readers (rows.cpp) vet every value at the door; this keeps a missed one out.
      if (auto why = sqlite::unstorable(c.attributes))
        throw store_error("contact " + mask_phone(c.phone) + ": an attribute holds " + *why);
      query q(
          *db_,
          "INSERT INTO contacts (phone, tags, attributes, tz, created_at, updated_at) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?5) "
          "ON CONFLICT (phone) DO UPDATE SET tags = excluded.tags, "
          "attributes = excluded.attributes, tz = excluded.tz, updated_at = excluded.updated_at "
          "RETURNING id");
      q.bind(1, c.phone)
          .bind(2, sqlite::strings_to_json(c.tags))
          .bind(3, sqlite::object_to_json(c.attributes))
          .bind(4, c.tz)
          .bind(5, now);
      if (!q.step()) throw store_error("upsert of " + c.phone + " returned no id");
      ids.push_back(q.get_int(0));
    }
  });
  return ids;
}

void sqlite_store::for_each_contact(const std::function<void(const contact&)>& fn) {
  atomically("list contacts", [&] {
    // Erased contacts (tombstones, see erase_contact) are no one's: never listed.
    query q(*db_, std::string("SELECT ") + sqlite::contact_columns + " FROM contacts k WHERE " +
                      sqlite::live_contact_sql + " ORDER BY k.id");
    sqlite::for_each_contact_row(q, fn);
  });
}

std::optional<contact> sqlite_store::find_contact(const std::string& phone) {
  std::optional<contact> found;
  atomically("find contact", [&] {
    query q(*db_, std::string("SELECT ") + sqlite::contact_columns +
                      " FROM contacts k WHERE k.phone = ?1");
    q.bind(1, phone);
    if (q.step()) found = sqlite::read_contact(q, 0);
  });
  return found;
}

// --- campaigns ---------------------------------------------------------------------------------

int sqlite_store::save_campaign(const stored_campaign& campaign) {
  int version = 0;
  atomically("save campaign", [&] {
    query head(*db_,
               "SELECT h.version, c.content_hash FROM campaign_heads h "
               "JOIN campaigns c ON c.name = h.name AND c.version = h.version WHERE h.name = ?1");
    head.bind(1, campaign.name);
    bool exists = head.step();
    if (exists && head.get_text(1) == campaign.content_hash) {
      version = static_cast<int>(head.get_int(0));
      return;
    }
    version = exists ? static_cast<int>(head.get_int(0)) + 1 : 1;
    if (!exists) columns::check_campaign_state(campaign.state);
    auto applied = campaign.applied_at == time_point{} ? sqlite::from_ms(sqlite::wall_clock_ms())
                                                       : campaign.applied_at;
    query(*db_,
          "INSERT INTO campaigns (name, version, content_hash, sender, category, priority, "
          "source_path, source_text, applied_at, cap_max, cap_per, on_cap, stop_on) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")
        .bind(1, campaign.name)
        .bind(2, version)
        .bind(3, campaign.content_hash)
        .bind(4, campaign.sender)
        .bind(5, campaign.category)
        .bind(6, campaign.priority)
        .bind(7, campaign.source_path)
        .bind(8, campaign.source_text)
        .bind(9, applied)
        .bind(10,
              campaign.cap.max > 0 ? std::optional<std::int64_t>(campaign.cap.max) : std::nullopt)
        .bind(11, campaign.cap.max > 0 ? std::optional<std::int64_t>(campaign.cap.per.count())
                                       : std::nullopt)
        .bind(12, campaign.on_cap)
        .bind(13, sqlite::strings_to_json(campaign.stop_on))
        .run();
    int position = 0;
    for (const auto& t : campaign.templates) {
      query(*db_,
            "INSERT INTO campaign_templates (campaign, version, position, step, variant, weight, "
            "kind, text, subject, media, window_days, window_between) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)")
          .bind(1, campaign.name)
          .bind(2, version)
          .bind(3, position++)
          .bind(4, t.step)
          .bind(5, t.variant)
          .bind(6, t.weight)
          .bind(7, t.kind)
          .bind(8, t.text)
          .bind(9, t.subject)
          .bind(10, sqlite::strings_to_json(t.media))
          .bind(11, t.has_window
                        ? std::optional<std::string>(sqlite::strings_to_json(t.window_days))
                        : std::nullopt)
          .bind(12, t.window_between)
          .run();
    }
    if (campaign.replies) save_replies(campaign.name, version, *campaign.replies);
    // A new version keeps the campaign's lifecycle state (see the class comment).
    query(*db_,
          "INSERT INTO campaign_heads (name, version, state, updated_at) VALUES (?1, ?2, ?3, ?4) "
          "ON CONFLICT (name) DO UPDATE SET version = excluded.version, "
          "updated_at = excluded.updated_at")
        .bind(1, campaign.name)
        .bind(2, version)
        .bind(3, campaign.state)
        .bind(4, applied)
        .run();
  });
  return version;
}

std::vector<stored_campaign> sqlite_store::list_campaigns() {
  std::vector<stored_campaign> out;
  atomically("list campaigns", [&] {
    query q(*db_, std::string("SELECT ") + columns::campaign_columns +
                      " FROM campaign_heads h JOIN campaigns c ON c.name = h.name AND "
                      "c.version = h.version ORDER BY c.name");
    while (q.step()) out.push_back(columns::read_campaign_row(q));
  });
  return out;
}

std::optional<stored_campaign> sqlite_store::find_campaign(const std::string& name) {
  std::optional<stored_campaign> found;
  atomically("find campaign", [&] {
    query q(*db_, std::string("SELECT ") + columns::campaign_columns +
                      " FROM campaign_heads h JOIN campaigns c ON c.name = h.name AND "
                      "c.version = h.version WHERE h.name = ?1");
    q.bind(1, name);
    if (!q.step()) return;
    found = columns::read_campaign_row(q);
    query t(*db_, std::string("SELECT ") + columns::template_columns +
                      " FROM campaign_templates WHERE campaign = ?1 AND version = ?2 "
                      "ORDER BY position");
    t.bind(1, name).bind(2, found->version);
    while (t.step()) found->templates.push_back(columns::read_template_row(t));
    // The reply window (reports credit replies within it); the keywords are not read here.
    query r(*db_, "SELECT valid_for_ms FROM campaign_replies WHERE campaign = ?1 AND version = ?2");
    r.bind(1, name).bind(2, found->version);
    if (r.step()) {
      found->replies.emplace();
      found->replies->valid_for = std::chrono::milliseconds(r.get_int(0));
    }
  });
  return found;
}

bool sqlite_store::set_campaign_state(const std::string& name, const std::string& state,
                                      time_point now) {
  columns::check_campaign_state(state);
  bool found = false;
  atomically("set campaign state", [&] {
    query(*db_, "UPDATE campaign_heads SET state = ?2, updated_at = ?3 WHERE name = ?1")
        .bind(1, name)
        .bind(2, state)
        .bind(3, now)
        .run();
    found = db_->changes() > 0;
    if (!found || state != "cancelled") return;
    query(*db_,
          "UPDATE messages SET state = 'suppressed', reason = 'campaign cancelled', "
          "lease_owner = NULL, lease_until = NULL, final_at = ?2, updated_at = ?2 "
          "WHERE campaign = ?1 AND state <> 'submitted' AND state NOT IN (" +
              sqlite::final_states_sql() + ")")
        .bind(1, name)
        .bind(2, now)
        .run();
  });
  return found;
}

std::size_t sqlite_store::suppress_removed_steps(const std::string& campaign,
                                                 const std::vector<std::string>& steps,
                                                 const std::string& reason, time_point now) {
  std::size_t suppressed = 0;
  atomically("suppress removed steps", [&] {
    query(*db_,
          "UPDATE messages SET state = 'suppressed', reason = ?3, lease_owner = NULL, "
          "lease_until = NULL, final_at = ?4, updated_at = ?4 "
          "WHERE campaign = ?1 AND direct_text IS NULL "
          "AND state IN ('scheduled', 'deferred', 'retry', 'leased') "
          "AND step NOT IN (SELECT value FROM json_each(?2))")
        .bind(1, campaign)
        .bind(2, sqlite::strings_to_json(steps))
        .bind(3, reason)
        .bind(4, now)
        .run();
    suppressed = static_cast<std::size_t>(db_->changes());
  });
  return suppressed;
}

std::size_t sqlite_store::restart_cancelled(const std::string& campaign, time_point now) {
  std::size_t removed = 0;
  atomically("restart cancelled campaign", [&] {
    query(*db_,
          "UPDATE campaign_heads SET state = 'active', updated_at = ?2 "
          "WHERE name = ?1 AND state = 'cancelled'")
        .bind(1, campaign)
        .bind(2, now)
        .run();
    if (db_->changes() == 0) return;
    query(*db_,
          "DELETE FROM messages WHERE campaign = ?1 AND state = 'suppressed' "
          "AND reason = 'campaign cancelled' AND attempts = 0 AND direct_text IS NULL "
          "AND NOT EXISTS (SELECT 1 FROM send_ledger l WHERE l.message_id = messages.id)")
        .bind(1, campaign)
        .run();
    removed = static_cast<std::size_t>(db_->changes());
  });
  return removed;
}

}  // namespace pigeon::engine::sqlite
