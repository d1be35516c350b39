#!/usr/bin/env python3
"""Prices the second half of issue 17 item 3 before building it: what the store's durable writes
per message cost today against the same work with the send ledger as the journal.

  scripts/bench_ledger_journal.py PIGEON [MESSAGES=30000] [GROUP=64] [FOLD=1024]

Makes a database with the real binary (`contacts import`, `campaign apply` of a broadcast of
MESSAGES), then on copies of it runs, in Python's sqlite3 with serve's pragmas (WAL,
synchronous FULL, 64 MB cache) and transactions of GROUP messages as the dispatcher's group
commits:

  today    intent: UPDATE messages to 'submitting' + INSERT send_ledger ('pending');
           outcome: UPDATE messages to 'submitted' + UPDATE send_ledger
  lean     as today, but the intent's UPDATE sets the state only (the payload waits on the
           ledger row and goes to the message row with the outcome)
  journal  intent: INSERT send_ledger only (the row also carries body and segments);
           outcome: UPDATE send_ledger; every FOLD outcomes one UPDATE brings the messages'
           rows up to date from their ledger rows (scheduled -> submitted in one rewrite)

and prints wall and process CPU per message. The SQL is serve's (engine/store/sqlite/queue.cpp)
minus the parts that do not change the cost (policy facts, claims). Python's own overhead is in
both figures (a few µs per statement; the journal runs fewer statements, so it gains that too).
Not a test: figures go to docs/BENCHMARKS.md."""
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time

FOLD_SQL = (
    "UPDATE messages SET (state, provider, carrier_id, reason, sent_at, attempts, body, "
    "segments, rendered_version, updated_at) = (SELECT l.outcome, l.provider, l.carrier_id, "
    "l.reason, l.completed_at, l.attempt, l.body, l.segments, 1, l.completed_at FROM "
    "send_ledger l WHERE l.message_id = messages.id ORDER BY l.id DESC LIMIT 1) "
    "WHERE id IN (SELECT message_id FROM send_ledger WHERE id BETWEEN ?1 AND ?2)")


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_base(pigeon, tmp, n):
    with open(os.path.join(tmp, "pigeon.yaml"), "w") as f:
        f.write(f"""database: {tmp}/base.db
default_timezone: Asia/Shanghai
senders:
  shop: {{ signature: "[Shop]", route: [sandbox] }}
providers:
  sandbox: {{ kind: simulator, rate: 100000/s, concurrency: 256 }}
""")
    with open(os.path.join(tmp, "c.csv"), "w") as f:
        f.write("phone,first_name\n")
        for i in range(n):
            f.write(f"+86139{i:08d},U{i}\n")
    with open(os.path.join(tmp, "blast.yaml"), "w") as f:
        f.write("""campaign: blast
sender: shop
category: transactional
steps:
  - { id: hello, at: "2030-01-01T10:00:00+08:00", sms: { text: "Hi {{first_name}}, shipped" } }
""")
    run = lambda *a: subprocess.run([pigeon, "--config", os.path.join(tmp, "pigeon.yaml"), *a],
                                    check=True, capture_output=True)
    run("contacts", "import", os.path.join(tmp, "c.csv"))
    run("campaign", "apply", "--clock", "sim:2029-12-31T00:00:00Z", os.path.join(tmp, "blast.yaml"))
    return os.path.join(tmp, "base.db")


def run(mode, base, tmp, group, fold):
    path = os.path.join(tmp, f"{mode}.db")
    if os.path.exists(path):
        os.remove(path)
    with sqlite3.connect(base) as src, sqlite3.connect(path) as dst:
        src.backup(dst)  # the base's WAL included
    c = sqlite3.connect(path, isolation_level=None)
    for p in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-65536", "temp_store=MEMORY"):
        c.execute("PRAGMA " + p)
    if mode in ("journal", "lean"):
        c.execute("ALTER TABLE send_ledger ADD COLUMN body TEXT")
        c.execute("ALTER TABLE send_ledger ADD COLUMN segments INTEGER")
    rows = c.execute("SELECT id, contact_id, state, due_at, variant FROM messages "
                     "ORDER BY due_at, id").fetchall()
    now = 1893456000000
    body = "Hi U1, shipped"
    started, cpu0 = time.time(), cpu()
    unfolded = []

    def fold_now():
        c.execute("BEGIN IMMEDIATE")
        c.execute(FOLD_SQL, (unfolded[0], unfolded[-1]))
        c.execute("COMMIT")
        unfolded.clear()

    for i in range(0, len(rows), group):
        c.execute("BEGIN IMMEDIATE")
        attempts = []
        for mid, contact, state, due, variant in rows[i:i + group]:
            if mode == "lean":  # the row's state only; the payload waits on the ledger row
                c.execute("UPDATE messages SET state = 'submitting' WHERE id = ?1 AND state = ?2 "
                          "AND due_at = ?3 AND variant = ?4", (mid, state, due, variant))
                cur = c.execute("INSERT INTO send_ledger (message_id, contact_id, campaign, "
                                "attempt, provider, at, outcome, simulated, body, segments) VALUES "
                                "(?, ?, 'blast', 1, 'sandbox', ?, 'pending', 0, ?, 1)",
                                (mid, contact, now, body))
            elif mode == "today":
                c.execute("UPDATE messages SET state = 'submitting', attempts = 1, provider = "
                          "'sandbox', body = ?2, segments = 1, updated_at = ?3, rendered_version = "
                          "1 WHERE id = ?1 AND state = ?4 AND due_at = ?5 AND variant = ?6",
                          (mid, body, now, state, due, variant))
                cur = c.execute("INSERT INTO send_ledger (message_id, contact_id, campaign, "
                                "attempt, provider, at, outcome, simulated) VALUES "
                                "(?, ?, 'blast', 1, 'sandbox', ?, 'pending', 0)",
                                (mid, contact, now))
            else:
                cur = c.execute("INSERT INTO send_ledger (message_id, contact_id, campaign, "
                                "attempt, provider, at, outcome, simulated, body, segments) VALUES "
                                "(?, ?, 'blast', 1, 'sandbox', ?, 'pending', 0, ?, 1)",
                                (mid, contact, now, body))
            attempts.append((mid, cur.lastrowid))
        c.execute("COMMIT")
        c.execute("BEGIN IMMEDIATE")
        for mid, ledger_id in attempts:
            carrier_id = "SM%08d" % mid
            if mode == "lean":
                c.execute("UPDATE messages SET state = 'submitted', attempts = 1, provider = "
                          "'sandbox', body = ?4, segments = 1, rendered_version = 1, carrier_id = "
                          "?2, reason = '', sent_at = ?3, updated_at = ?3 WHERE id = ?1 AND "
                          "state = 'submitting'", (mid, carrier_id, now, body))
            if mode == "today":
                c.execute("UPDATE messages SET state = 'submitted', provider = 'sandbox', "
                          "carrier_id = ?2, reason = '', sent_at = ?3, lease_owner = NULL, "
                          "lease_until = NULL, updated_at = ?3 WHERE id = ?1 AND "
                          "state = 'submitting'", (mid, carrier_id, now))
            c.execute("UPDATE send_ledger SET outcome = 'submitted', carrier_id = ?2, reason = '', "
                      "completed_at = coalesce(completed_at, ?3) WHERE id = ?1 AND "
                      "outcome = 'pending'", (ledger_id, carrier_id, now))
            unfolded.append(ledger_id)
        c.execute("COMMIT")
        if mode == "journal" and len(unfolded) >= fold:
            fold_now()
    if mode == "journal" and unfolded:
        fold_now()
    wall, used = time.time() - started, cpu() - cpu0
    states = dict(c.execute("SELECT state, count(*) FROM messages GROUP BY 1").fetchall())
    assert states == {"submitted": len(rows)}, states
    n = len(rows)
    print(f"{mode:8s} {n} messages: wall {wall / n * 1e6:.1f} µs/msg, CPU {used / n * 1e6:.1f} "
          f"µs/msg (all {n} submitted)")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pigeon = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 30000
    group = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    fold = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
    with tempfile.TemporaryDirectory(prefix="pigeon-journal-") as tmp:
        base = make_base(pigeon, tmp, n)
        for mode in ("today", "lean", "journal", "today", "lean", "journal"):
            run(mode, base, tmp, group, fold)


if __name__ == "__main__":
    main()
