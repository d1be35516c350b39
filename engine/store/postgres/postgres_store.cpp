#include "engine/store/postgres/postgres_store.hpp"

#include "engine/model/phone.hpp"
#include "engine/store/postgres/connection.hpp"
#include "engine/store/postgres/migrations.hpp"
#include "engine/store/postgres/rows.hpp"
#include "engine/store/queue_rows.hpp"

namespace pigeon::engine::postgres {

bool postgres_store::is_url(const std::string& database) {
  return database.starts_with("postgresql://") || database.starts_with("postgres://") ||
         database.starts_with("postgresql:") || database.find("dbname=") != std::string::npos;
}

postgres_store::postgres_store() = default;

postgres_store::~postgres_store() = default;

const std::string& postgres_store::target() const { return db_->target(); }

std::unique_ptr<postgres_store> postgres_store::open(const std::string& url) {
  std::unique_ptr<postgres_store> s(new postgres_store());
  s->db_ = std::make_unique<postgres::connection>(url);
  auto& db = *s->db_;
  try {
    // Reads and writes in UTC milliseconds only; a statement that waits on a row lock longer
    // than 5 s fails like SQLite's busy timeout, as a store_error.
    db.set_session("SET lock_timeout = '5s'");
    db.set_session("SET synchronous_commit = on");
  } catch (const store_error& e) {
    throw store_error("cannot open database " + db.target() + ": " + e.what());
  }
  postgres::migrate(db);
  return s;
}

// --- atomicity ---------------------------------------------------------------------------------

// Top level: BEGIN (read committed; decisions that count a recipient's sends lock the contact
// row). Nested: a savepoint, so a failure undoes only the nested work; PostgreSQL allows
// savepoints of one name to nest, ROLLBACK TO naming the innermost.
void postgres_store::begin(bool nested) {
  if (nested) {
    db_->exec("SAVEPOINT pigeon");
    return;
  }
  // A connection the server dropped (a restart, a failover) is reopened here, between
  // transactions, where nothing is lost: the failed call before it rolled back, and its caller
  // (the dispatcher's intents and outcomes, a webhook's 503) retries. A BEGIN that finds the
  // connection gone retries once on a new one.
  if (db_->lost()) db_->reconnect();
  try {
    db_->exec("BEGIN");
  } catch (const store_error&) {
    if (!db_->lost()) throw;
    db_->reconnect();
    db_->exec("BEGIN");
  }
}

void postgres_store::commit(bool nested) {
  db_->exec(nested ? "RELEASE SAVEPOINT pigeon" : "COMMIT");
}

void postgres_store::rollback(bool nested) noexcept {
  try {
    if (nested) {
      db_->exec("ROLLBACK TO SAVEPOINT pigeon");
      db_->exec("RELEASE SAVEPOINT pigeon");
    } else if (db_->in_transaction()) {
      db_->exec("ROLLBACK");
    }
  } catch (const store_error&) {
  }
}

void postgres_store::atomically(const char* what, const std::function<void()>& body) {
  bool nested = db_->in_transaction();
  try {
    begin(nested);
  } catch (const store_error& e) {
    throw store_error("database " + target() + ": " + what + ": " + e.what());
  }
  try {
    body();
    commit(nested);
  } catch (const store_error& e) {
    rollback(nested);
    throw store_error("database " + target() + ": " + what + ": " + e.what());
  } catch (...) {
    rollback(nested);
    throw;
  }
}

void postgres_store::transaction(const std::function<void()>& body) {
  bool nested = db_->in_transaction();
  try {
    begin(nested);
  } catch (const store_error& e) {
    throw store_error("database " + target() + ": begin transaction: " + e.what());
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
    throw store_error("database " + target() + ": commit: " + e.what());
  }
}

// --- contacts ----------------------------------------------------------------------------------

std::vector<std::int64_t> postgres_store::upsert_contacts(const std::vector<contact>& contacts) {
  std::vector<std::int64_t> ids;
  ids.reserve(contacts.size());
  atomically("upsert contacts", [&] {
    auto now = postgres::wall_clock_ms();
    for (const auto& c : contacts) {
      // The readers (rows.cpp) vet every value at the door; this keeps a missed one out.
      if (auto why = postgres::unstorable(c.attributes))
        throw store_error("contact " + mask_phone(c.phone) + ": an attribute holds " + *why);
      query q(
          *db_,
          "INSERT INTO contacts (phone, tags, attributes, tz, created_at, updated_at) "
          "VALUES ($1, $2, $3, $4, $5, $5) "
          "ON CONFLICT (phone) DO UPDATE SET tags = excluded.tags, "
          "attributes = excluded.attributes, tz = excluded.tz, updated_at = excluded.updated_at "
          "RETURNING id");
      q.bind(1, c.phone)
          .bind(2, postgres::strings_to_json(c.tags))
          .bind(3, postgres::object_to_json(c.attributes))
          .bind(4, c.tz)
          .bind(5, now);
      if (!q.step()) throw store_error("upsert of " + c.phone + " returned no id");
      ids.push_back(q.get_int(0));
    }
  });
  return ids;
}

void postgres_store::for_each_contact(const std::function<void(const contact&)>& fn) {
  atomically("list contacts", [&] {
    // Erased contacts (tombstones, see erase_contact) are no one's: never listed.
    query q(*db_, std::string("SELECT ") + postgres::contact_columns + " FROM contacts k WHERE " +
                      postgres::live_contact_sql + " ORDER BY k.id");
    postgres::for_each_contact_row(q, fn);
  });
}

std::optional<contact> postgres_store::find_contact(const std::string& phone) {
  std::optional<contact> found;
  atomically("find contact", [&] {
    query q(*db_, std::string("SELECT ") + postgres::contact_columns +
                      " FROM contacts k WHERE k.phone = $1");
    q.bind(1, phone);
    if (q.step()) found = postgres::read_contact(q, 0);
  });
  return found;
}

// --- campaigns ---------------------------------------------------------------------------------

int postgres_store::save_campaign(const stored_campaign& campaign) {
  int version = 0;
  atomically("save campaign", [&] {
    query head(*db_,
               "SELECT h.version, c.content_hash FROM campaign_heads h "
               "JOIN campaigns c ON c.name = h.name AND c.version = h.version WHERE h.name = $1");
    head.bind(1, campaign.name);
    bool exists = head.step();
    if (exists && head.get_text(1) == campaign.content_hash) {
      version = static_cast<int>(head.get_int(0));
      return;
    }
    version = exists ? static_cast<int>(head.get_int(0)) + 1 : 1;
    if (!exists) columns::check_campaign_state(campaign.state);
    auto applied = campaign.applied_at == time_point{}
                       ? postgres::from_ms(postgres::wall_clock_ms())
                       : campaign.applied_at;
    query(*db_,
          "INSERT INTO campaigns (name, version, content_hash, sender, category, priority, "
          "source_path, source_text, applied_at, cap_max, cap_per, on_cap, stop_on) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
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
        .bind(13, postgres::strings_to_json(campaign.stop_on))
        .run();
    int position = 0;
    for (const auto& t : campaign.templates) {
      query(*db_,
            "INSERT INTO campaign_templates (campaign, version, position, step, variant, weight, "
            "kind, text, subject, media, window_days, window_between) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
          .bind(1, campaign.name)
          .bind(2, version)
          .bind(3, position++)
          .bind(4, t.step)
          .bind(5, t.variant)
          .bind(6, t.weight)
          .bind(7, t.kind)
          .bind(8, t.text)
          .bind(9, t.subject)
          .bind(10, postgres::strings_to_json(t.media))
          .bind(11, t.has_window
                        ? std::optional<std::string>(postgres::strings_to_json(t.window_days))
                        : std::nullopt)
          .bind(12, t.window_between)
          .run();
    }
    if (campaign.replies) save_replies(campaign.name, version, *campaign.replies);
    // A new version keeps the campaign's lifecycle state (see the class comment).
    query(*db_,
          "INSERT INTO campaign_heads (name, version, state, updated_at) VALUES ($1, $2, $3, $4) "
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

std::vector<stored_campaign> postgres_store::list_campaigns() {
  std::vector<stored_campaign> out;
  atomically("list campaigns", [&] {
    query q(*db_, std::string("SELECT ") + columns::campaign_columns +
                      " FROM campaign_heads h JOIN campaigns c ON c.name = h.name AND "
                      "c.version = h.version ORDER BY c.name");
    while (q.step()) out.push_back(columns::read_campaign_row(q));
  });
  return out;
}

std::optional<stored_campaign> postgres_store::find_campaign(const std::string& name) {
  std::optional<stored_campaign> found;
  atomically("find campaign", [&] {
    query q(*db_, std::string("SELECT ") + columns::campaign_columns +
                      " FROM campaign_heads h JOIN campaigns c ON c.name = h.name AND "
                      "c.version = h.version WHERE h.name = $1");
    q.bind(1, name);
    if (!q.step()) return;
    found = columns::read_campaign_row(q);
    query t(*db_, std::string("SELECT ") + columns::template_columns +
                      " FROM campaign_templates WHERE campaign = $1 AND version = $2 "
                      "ORDER BY position");
    t.bind(1, name).bind(2, found->version);
    while (t.step()) found->templates.push_back(columns::read_template_row(t));
    // The reply window (reports credit replies within it); the keywords are not read here.
    query r(*db_, "SELECT valid_for_ms FROM campaign_replies WHERE campaign = $1 AND version = $2");
    r.bind(1, name).bind(2, found->version);
    if (r.step()) {
      found->replies.emplace();
      found->replies->valid_for = std::chrono::milliseconds(r.get_int(0));
    }
  });
  return found;
}

bool postgres_store::set_campaign_state(const std::string& name, const std::string& state,
                                        time_point now) {
  columns::check_campaign_state(state);
  bool found = false;
  atomically("set campaign state", [&] {
    query q(*db_, "UPDATE campaign_heads SET state = $2, updated_at = $3 WHERE name = $1");
    q.bind(1, name).bind(2, state).bind(3, now).run();
    found = q.changes() > 0;
    if (!found || state != "cancelled") return;
    query(*db_,
          "UPDATE messages SET state = 'suppressed', reason = 'campaign cancelled', "
          "lease_owner = NULL, lease_until = NULL, final_at = $2, updated_at = $2 "
          "WHERE campaign = $1 AND state <> 'submitted' AND state NOT IN (" +
              postgres::final_states_sql() + ")")
        .bind(1, name)
        .bind(2, now)
        .run();
  });
  return found;
}

std::size_t postgres_store::suppress_removed_steps(const std::string& campaign,
                                                   const std::vector<std::string>& steps,
                                                   const std::string& reason, time_point now) {
  std::size_t suppressed = 0;
  atomically("suppress removed steps", [&] {
    query q(*db_,
            "UPDATE messages SET state = 'suppressed', reason = $3, lease_owner = NULL, "
            "lease_until = NULL, final_at = $4, updated_at = $4 "
            "WHERE campaign = $1 AND direct_text IS NULL "
            "AND state IN ('scheduled', 'deferred', 'retry', 'leased') "
            "AND step NOT IN (SELECT jsonb_array_elements_text($2::jsonb))");
    q.bind(1, campaign)
        .bind(2, postgres::strings_to_json(steps))
        .bind(3, reason)
        .bind(4, now)
        .run();
    suppressed = static_cast<std::size_t>(q.changes());
  });
  return suppressed;
}

std::size_t postgres_store::restart_cancelled(const std::string& campaign, time_point now) {
  std::size_t removed = 0;
  atomically("restart cancelled campaign", [&] {
    query head(*db_,
               "UPDATE campaign_heads SET state = 'active', updated_at = $2 "
               "WHERE name = $1 AND state = 'cancelled'");
    head.bind(1, campaign).bind(2, now).run();
    if (head.changes() == 0) return;
    query q(*db_,
            "DELETE FROM messages WHERE campaign = $1 AND state = 'suppressed' "
            "AND reason = 'campaign cancelled' AND attempts = 0 AND direct_text IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM send_ledger l WHERE l.message_id = messages.id)");
    q.bind(1, campaign).run();
    removed = static_cast<std::size_t>(q.changes());
  });
  return removed;
}

}  // namespace pigeon::engine::postgres
