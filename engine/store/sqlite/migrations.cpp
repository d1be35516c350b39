#include "engine/store/sqlite/migrations.hpp"

#include <array>
#include <string>

#include "engine/store/store.hpp"

namespace pigeon::engine::sqlite {

namespace {

// Migrations in order; element i takes the schema from version i to i + 1. Never edit a
// released migration: append a new one. Times are INTEGER milliseconds since the Unix epoch.
constexpr std::array<const char*, 14> migrations = {
    // 1: contacts, versioned campaigns, the message queue, the send ledger, the heartbeat.
    R"sql(
CREATE TABLE contacts (
  id          INTEGER PRIMARY KEY,
  phone       TEXT NOT NULL UNIQUE,          -- E.164
  tags        TEXT NOT NULL DEFAULT '[]',    -- JSON array of strings
  attributes  TEXT NOT NULL DEFAULT '{}',    -- JSON object
  tz          TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);

-- One row per stored version of a campaign; never updated once written.
CREATE TABLE campaigns (
  name          TEXT NOT NULL,
  version       INTEGER NOT NULL,
  content_hash  TEXT NOT NULL,
  sender        TEXT NOT NULL,
  category      TEXT NOT NULL,
  priority      INTEGER NOT NULL,
  source_path   TEXT NOT NULL,
  source_text   TEXT NOT NULL,
  applied_at    INTEGER NOT NULL,
  PRIMARY KEY (name, version)
);

-- The current version and lifecycle state of each campaign (state belongs to the campaign,
-- not to a version: pausing then re-applying a changed file keeps it paused).
CREATE TABLE campaign_heads (
  name        TEXT PRIMARY KEY,
  version     INTEGER NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('active', 'paused', 'cancelled')),
  updated_at  INTEGER NOT NULL,
  FOREIGN KEY (name, version) REFERENCES campaigns (name, version)
);

CREATE TABLE campaign_templates (
  campaign  TEXT NOT NULL,
  version   INTEGER NOT NULL,
  position  INTEGER NOT NULL,               -- order in the source file
  step      TEXT NOT NULL,
  variant   TEXT NOT NULL,
  weight    INTEGER NOT NULL,
  kind      TEXT NOT NULL,                  -- sms | mms
  text      TEXT NOT NULL,
  subject   TEXT NOT NULL,
  media     TEXT NOT NULL DEFAULT '[]',     -- JSON array of paths
  PRIMARY KEY (campaign, version, step, variant),
  FOREIGN KEY (campaign, version) REFERENCES campaigns (name, version)
);

CREATE TABLE messages (
  id                INTEGER PRIMARY KEY,
  campaign          TEXT NOT NULL REFERENCES campaign_heads (name),
  step              TEXT NOT NULL,
  variant           TEXT NOT NULL,
  contact_id        INTEGER NOT NULL REFERENCES contacts (id),
  state             TEXT NOT NULL,
  due_at            INTEGER NOT NULL,
  expires_at        INTEGER,
  attempts          INTEGER NOT NULL DEFAULT 0,
  lease_owner       TEXT,
  lease_until       INTEGER,
  provider          TEXT NOT NULL DEFAULT '',
  carrier_id        TEXT NOT NULL DEFAULT '',
  reason            TEXT NOT NULL DEFAULT '',
  body              TEXT NOT NULL DEFAULT '',
  segments          INTEGER NOT NULL DEFAULT 0,
  rendered_version  INTEGER,                -- campaign version of the last rendered body
  sent_at           INTEGER,
  final_at          INTEGER,
  maybe_duplicate   INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  UNIQUE (campaign, step, contact_id)
);
-- The claim walks these in due order and stops after `limit` rows.
CREATE INDEX messages_claimable ON messages (due_at)
  WHERE state IN ('scheduled', 'retry', 'deferred');
CREATE INDEX messages_leased ON messages (lease_until) WHERE state = 'leased';
CREATE INDEX messages_by_state ON messages (campaign, state);
CREATE INDEX messages_by_contact ON messages (contact_id);
CREATE INDEX messages_by_carrier_id ON messages (provider, carrier_id) WHERE carrier_id <> '';

-- One row per submission attempt (frequency caps count these).
CREATE TABLE send_ledger (
  id          INTEGER PRIMARY KEY,
  message_id  INTEGER NOT NULL REFERENCES messages (id),
  contact_id  INTEGER NOT NULL,
  campaign    TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  provider    TEXT NOT NULL,
  at          INTEGER NOT NULL,
  outcome     TEXT NOT NULL,                -- pending, unknown, or a message state
  carrier_id  TEXT NOT NULL DEFAULT '',
  reason      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX send_ledger_by_message ON send_ledger (message_id);
CREATE INDEX send_ledger_by_contact ON send_ledger (contact_id, at);

CREATE TABLE engine_heartbeat (
  owner  TEXT PRIMARY KEY,
  pid    INTEGER NOT NULL,
  at     INTEGER NOT NULL
);
)sql",
    // 2: a clean stop is recorded, so `status` can tell "stopped" from "running".
    R"sql(
ALTER TABLE engine_heartbeat ADD COLUMN stopped_at INTEGER;
)sql",
    // 3: each template carries its send window (recipient local time); NULL days = no window.
    R"sql(
ALTER TABLE campaign_templates ADD COLUMN window_days TEXT;
ALTER TABLE campaign_templates ADD COLUMN window_between TEXT NOT NULL DEFAULT '';
)sql",
    // 4: webhooks and replies: opt-out on contacts, delivery receipts, replies, integrator
    // events, per-recipient frequency preferences, NPS scores, campaign reply keywords, and
    // direct (reply) messages carrying their own text.
    R"sql(
ALTER TABLE contacts ADD COLUMN opted_out_at INTEGER;          -- NULL = subscribed
ALTER TABLE contacts ADD COLUMN opt_out_source TEXT NOT NULL DEFAULT '';
-- A direct message (keyword response, STOP/START/HELP confirmation) has its own text and is
-- transactional; its step is "reply:<reply id>". NULL for campaign steps.
ALTER TABLE messages ADD COLUMN direct_text TEXT;
-- Set when a delivery receipt proved a message of unknown outcome reached the carrier.
ALTER TABLE messages ADD COLUMN reconciled_at INTEGER;

-- Every delivery receipt, kept for ops; (provider, dedupe_key, status) makes them idempotent.
CREATE TABLE receipts (
  id           INTEGER PRIMARY KEY,
  provider     TEXT NOT NULL,
  dedupe_key   TEXT NOT NULL,                -- the carrier id, else "id:<message id>"
  carrier_id   TEXT NOT NULL,
  message_id   INTEGER,                      -- NULL when no message matched
  status       TEXT NOT NULL,                -- the carrier's word
  state        TEXT NOT NULL,                -- submitted | delivered | undelivered | failed
  error_code   TEXT NOT NULL DEFAULT '',
  error_text   TEXT NOT NULL DEFAULT '',
  at           INTEGER NOT NULL,             -- the carrier's time, else received_at
  received_at  INTEGER NOT NULL,
  effect       TEXT NOT NULL,                -- applied | reconciled | stale | unknown message
  UNIQUE (provider, dedupe_key, status)
);
CREATE INDEX receipts_by_message ON receipts (message_id);

-- Every inbound message (MO) and what it triggered.
CREATE TABLE replies (
  id           INTEGER PRIMARY KEY,
  provider     TEXT NOT NULL,
  carrier_id   TEXT NOT NULL DEFAULT '',
  phone        TEXT NOT NULL,                -- the recipient who wrote
  contact_id   INTEGER REFERENCES contacts (id),
  to_number    TEXT NOT NULL DEFAULT '',
  text         TEXT NOT NULL,
  normalized   TEXT NOT NULL,
  campaign     TEXT NOT NULL DEFAULT '',     -- attributed campaign, '' when none
  message_id   INTEGER,                      -- the attributed message
  keyword      TEXT NOT NULL DEFAULT '',     -- the keyword matched, '' when unmatched
  action       TEXT NOT NULL DEFAULT '',     -- opt_out | opt_in | help | tag | respond | ...
  nps_score    INTEGER,
  at           INTEGER NOT NULL
);
CREATE UNIQUE INDEX replies_dedupe ON replies (provider, carrier_id) WHERE carrier_id <> '';
CREATE INDEX replies_by_time ON replies (at);
CREATE INDEX replies_by_campaign ON replies (campaign, at);

-- Integrator events (POST /v1/events): A/B conversions and sequence stop_on read these.
CREATE TABLE events (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL,
  contact_id   INTEGER NOT NULL REFERENCES contacts (id),
  properties   TEXT NOT NULL DEFAULT '{}',   -- JSON object
  at           INTEGER NOT NULL,             -- when it happened (given, else received_at)
  received_at  INTEGER NOT NULL
);
CREATE INDEX events_by_contact ON events (contact_id, name, at);
CREATE INDEX events_by_name ON events (name, at);

-- A recipient's own frequency preference (a reply with `action: frequency`): at most `max`
-- messages per `per_seconds`. Read by the caps policy.
CREATE TABLE contact_preferences (
  contact_id   INTEGER PRIMARY KEY REFERENCES contacts (id),
  max          INTEGER NOT NULL,
  per_seconds  INTEGER NOT NULL,
  source       TEXT NOT NULL DEFAULT '',     -- e.g. "reply:<campaign>:<keyword>"
  updated_at   INTEGER NOT NULL
);

-- The `replies:` section of a campaign version: valid_for and the keywords (JSON array of
-- {keyword, normalized, tag, respond, action, step, max, per_seconds}).
CREATE TABLE campaign_replies (
  campaign      TEXT NOT NULL,
  version       INTEGER NOT NULL,
  valid_for_ms  INTEGER NOT NULL,
  keywords      TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (campaign, version),
  FOREIGN KEY (campaign, version) REFERENCES campaigns (name, version)
);
-- Attribution looks up a contact's most recent sends.
CREATE INDEX messages_by_contact_sent ON messages (contact_id, sent_at) WHERE sent_at IS NOT NULL;
)sql",
    // 5 (ops): when each attempt got its answer (latency per provider), the lanes' state the
    // engine stores with its heartbeat, and an index for throughput over recent windows.
    R"sql(
ALTER TABLE send_ledger ADD COLUMN completed_at INTEGER;
ALTER TABLE engine_heartbeat ADD COLUMN detail TEXT NOT NULL DEFAULT '';
CREATE INDEX send_ledger_by_at ON send_ledger (at);
)sql",
    // 6: send policy. A campaign's own cap (cap_per in ms; NULL = none), what a capped message
    // does, and its stop_on triggers. Caps read contact_preferences; stop_on reads replies and
    // events (all three from migration 4).
    R"sql(
ALTER TABLE campaigns ADD COLUMN cap_max INTEGER;
ALTER TABLE campaigns ADD COLUMN cap_per INTEGER;
ALTER TABLE campaigns ADD COLUMN on_cap TEXT NOT NULL DEFAULT 'defer';
ALTER TABLE campaigns ADD COLUMN stop_on TEXT NOT NULL DEFAULT '[]';
CREATE INDEX replies_by_contact ON replies (contact_id, at);
)sql",
    // 7 (policy2): A/B tests with `then: winner`: one row per campaign, the decision once taken
    // (p_value as text, NULL when there was nothing to test); opted-out contacts by index.
    R"sql(
CREATE TABLE ab_tests (
  campaign        TEXT PRIMARY KEY,
  metric          TEXT NOT NULL,
  decide_after_ms INTEGER NOT NULL,
  first_send_at   INTEGER,
  decided_at      INTEGER,
  winner          TEXT NOT NULL DEFAULT '',
  runner_up       TEXT NOT NULL DEFAULT '',
  p_value         TEXT,
  reason          TEXT NOT NULL DEFAULT '',
  switched        INTEGER NOT NULL DEFAULT 0
);
-- apply reads the opted-out contacts once (store::opted_out_contacts): a small partial index.
CREATE INDEX contacts_opted_out ON contacts (id) WHERE opted_out_at IS NOT NULL;
)sql",
    // 8 (store-perf): the claimable index filtered by OR-ed equalities instead of `state IN
    // (...)`. SQLite evaluates a constant IN list of three or more values through a temporary
    // b-tree built once per statement execution, and a partial index's filter is evaluated on
    // every UPDATE that changes `state`: each per-message state change (claim, submitting,
    // outcome) paid for building one, about half the CPU of those UPDATEs. Same rows, same key;
    // queries use it when their WHERE holds the identical expression (rows.hpp claimable_sql).
    R"sql(
DROP INDEX messages_claimable;
CREATE INDEX messages_claimable ON messages (due_at)
  WHERE state = 'scheduled' OR state = 'retry' OR state = 'deferred';
)sql",
    // 9: status counts possible duplicates (resent after an unknown outcome: rare) through this
    // index instead of scanning the whole queue on every refresh (47 ms per 100,000 messages).
    R"sql(
CREATE INDEX messages_maybe_duplicate ON messages (id) WHERE maybe_duplicate = 1;
)sql",
    // 10: one (campaign, state, step, variant) index instead of (campaign, state) and the leased
    // index. `status` reads campaign progress by step and variant from it (a scan of the index,
    // not of the table: 1.2 s -> 0.1 s at 480,000 messages); the few rows in one state (leased,
    // submitting, deferred, retry) are found per campaign through it (queries join
    // campaign_heads first: CROSS JOIN), so the leased index is dropped. Writer cost: two fewer
    // b-tree writes per dispatched message but wider keys, +1.5 % instructions in all.
    R"sql(
DROP INDEX messages_leased;
DROP INDEX messages_by_state;
CREATE INDEX messages_by_state ON messages (campaign, state, step, variant);
)sql",
    // 11 (ab): A/B tests decide on evidence: min_per_variant sends per variant first, a sample
    // share (percent) gets the variants while the rest wait, undecided tests are re-checked at
    // next_check_at. The first send now counts from the first step with variants: undecided
    // tests forget the campaign-wide one they noted.
    R"sql(
ALTER TABLE ab_tests ADD COLUMN min_per_variant INTEGER NOT NULL DEFAULT 100;
ALTER TABLE ab_tests ADD COLUMN sample_percent INTEGER NOT NULL DEFAULT 100;
ALTER TABLE ab_tests ADD COLUMN next_check_at INTEGER;
UPDATE ab_tests SET first_send_at = NULL WHERE decided_at IS NULL;
)sql",
    // 12: attempts made on a simulated clock (`serve --clock sim:`, a rehearsal) are stamped
    // with simulated times: the live rates of status leave them out.
    R"sql(
ALTER TABLE send_ledger ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
)sql",
    // 13 (journeys): a lifecycle journey sends a step to the same recipient once per occurrence
    // of their trigger (each birthday, each entry, each event), so a message is unique per
    // (campaign, step, contact, occurrence): the table is rebuilt with that key (SQLite cannot
    // change a table constraint in place; migrate() runs with foreign keys off). `occurrence`
    // is '' for broadcasts; `context` holds what a journey's templates read ({"anchor": date,
    // "event": {...}}). The journey tables: one row per entry (the exactly-once guard), the
    // `enters` state per contact, exits that send nothing, each contact's zone and trigger date
    // per journey (the daily rollover reads only the day's anniversaries), and how far each
    // journey's time-driven evaluation has got.
    R"sql(
CREATE TABLE messages_v13 (
  id                INTEGER PRIMARY KEY,
  campaign          TEXT NOT NULL REFERENCES campaign_heads (name),
  step              TEXT NOT NULL,
  variant           TEXT NOT NULL,
  contact_id        INTEGER NOT NULL REFERENCES contacts (id),
  state             TEXT NOT NULL,
  due_at            INTEGER NOT NULL,
  expires_at        INTEGER,
  attempts          INTEGER NOT NULL DEFAULT 0,
  lease_owner       TEXT,
  lease_until       INTEGER,
  provider          TEXT NOT NULL DEFAULT '',
  carrier_id        TEXT NOT NULL DEFAULT '',
  reason            TEXT NOT NULL DEFAULT '',
  body              TEXT NOT NULL DEFAULT '',
  segments          INTEGER NOT NULL DEFAULT 0,
  rendered_version  INTEGER,
  sent_at           INTEGER,
  final_at          INTEGER,
  maybe_duplicate   INTEGER NOT NULL DEFAULT 0,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  direct_text       TEXT,
  reconciled_at     INTEGER,
  occurrence        TEXT NOT NULL DEFAULT '',
  context           TEXT,
  UNIQUE (campaign, step, contact_id, occurrence)
);
INSERT INTO messages_v13 (id, campaign, step, variant, contact_id, state, due_at, expires_at,
  attempts, lease_owner, lease_until, provider, carrier_id, reason, body, segments,
  rendered_version, sent_at, final_at, maybe_duplicate, created_at, updated_at, direct_text,
  reconciled_at)
SELECT id, campaign, step, variant, contact_id, state, due_at, expires_at, attempts,
  lease_owner, lease_until, provider, carrier_id, reason, body, segments, rendered_version,
  sent_at, final_at, maybe_duplicate, created_at, updated_at, direct_text, reconciled_at
FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v13 RENAME TO messages;
CREATE INDEX messages_claimable ON messages (due_at)
  WHERE state = 'scheduled' OR state = 'retry' OR state = 'deferred';
CREATE INDEX messages_by_state ON messages (campaign, state, step, variant);
CREATE INDEX messages_by_contact ON messages (contact_id);
CREATE INDEX messages_by_carrier_id ON messages (provider, carrier_id) WHERE carrier_id <> '';
CREATE INDEX messages_by_contact_sent ON messages (contact_id, sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX messages_maybe_duplicate ON messages (id) WHERE maybe_duplicate = 1;

CREATE TABLE journey_entries (
  campaign    TEXT NOT NULL,
  contact_id  INTEGER NOT NULL,
  occurrence  TEXT NOT NULL,     -- the anchor: a local date, or "event:<id>", "enters:<date>"
  entered_at  INTEGER NOT NULL,
  PRIMARY KEY (campaign, contact_id, occurrence)
) WITHOUT ROWID;
CREATE INDEX journey_entries_by_time ON journey_entries (campaign, entered_at);

CREATE TABLE journey_members (   -- `enters` journeys: whether the contact matched last time
  campaign         TEXT NOT NULL,
  contact_id       INTEGER NOT NULL,
  matching         INTEGER NOT NULL,
  last_entered_at  INTEGER,
  PRIMARY KEY (campaign, contact_id)
) WITHOUT ROWID;

CREATE TABLE journey_exits (     -- recipients a journey passed over, and why
  campaign    TEXT NOT NULL,
  contact_id  INTEGER NOT NULL,
  reason      TEXT NOT NULL,     -- "re-entry blocked", "unreadable member_since_at: 'x'"
  at          INTEGER NOT NULL
);
CREATE INDEX journey_exits_by_campaign ON journey_exits (campaign, reason, at);

CREATE TABLE journey_dates (     -- each audience contact's zone and (date journeys) trigger date
  campaign    TEXT NOT NULL,
  contact_id  INTEGER NOT NULL,
  zone        TEXT NOT NULL,
  month       INTEGER NOT NULL,  -- 0 for journeys without a date
  day         INTEGER NOT NULL,
  date        TEXT NOT NULL,     -- YYYY-MM-DD in the contact's zone, '' without a date
  next_check  INTEGER,           -- `enters`: when the condition may next change with time alone
  PRIMARY KEY (campaign, contact_id)
) WITHOUT ROWID;
CREATE INDEX journey_dates_by_day ON journey_dates (campaign, zone, month, day);
CREATE INDEX journey_dates_by_check ON journey_dates (campaign, zone, next_check)
  WHERE next_check IS NOT NULL;

CREATE TABLE journey_clock (     -- time-driven evaluation has run up to evaluated_through
  campaign            TEXT PRIMARY KEY,
  evaluated_through   INTEGER NOT NULL
);
)sql",
    // 14: a recipient's exits: record_journey_exit looks for the same exit before adding one
    // (through journey_exits_by_campaign that read every exit of the campaign with the reason).
    R"sql(
CREATE INDEX journey_exits_by_contact ON journey_exits (campaign, contact_id, reason);
)sql",
};

}  // namespace

int latest_schema_version() { return static_cast<int>(migrations.size()); }

void migrate(database& db, std::int64_t now_ms) {
  auto current = db.query_int("PRAGMA user_version");
  if (current > latest_schema_version()) {
    throw store_error("database " + db.path() + " has schema version " + std::to_string(current) +
                      "; this pigeon supports up to " + std::to_string(latest_schema_version()) +
                      " — upgrade pigeon");
  }
  if (current == latest_schema_version()) return;
  // Table rebuilds (migration 13) drop and rename tables others reference: foreign keys are
  // off while migrating (a pragma that cannot change inside a transaction), on again after.
  db.exec("PRAGMA foreign_keys = OFF");
  struct foreign_keys_on {
    database& db;
    ~foreign_keys_on() {
      try {
        db.exec("PRAGMA foreign_keys = ON");
      } catch (...) {
      }
    }
  } restore{db};
  db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
  for (auto v = current; v < latest_schema_version(); ++v) {
    // IMMEDIATE: two processes opening a fresh file must not both migrate it.
    db.exec("BEGIN IMMEDIATE");
    try {
      // Re-read under the write lock: another process may have migrated meanwhile.
      if (db.query_int("PRAGMA user_version") > v) {
        db.exec("COMMIT");
        continue;
      }
      db.exec(migrations[static_cast<std::size_t>(v)]);
      query(db, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
          .bind(1, v + 1)
          .bind(2, now_ms)
          .run();
      db.exec("PRAGMA user_version = " + std::to_string(v + 1));
      db.exec("COMMIT");
    } catch (const store_error& e) {
      db.exec("ROLLBACK");
      throw store_error("database " + db.path() + ": migration to schema version " +
                        std::to_string(v + 1) + " failed: " + e.what());
    }
  }
}

}  // namespace pigeon::engine::sqlite
