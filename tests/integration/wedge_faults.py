#!/usr/bin/env python3
"""Faults that must not wedge the engine, through the real `pigeon serve` (issue 17, item 5):
a second engine on a database is refused before it touches the schema, a stop is not held up by
a heartbeat that was being stored, and an outcome the store refuses is shown and stored again. Run one test: wedge_faults.py PIGEON_BINARY TEST_NAME.
Reuses e2e.py's Env (temp folder, config, simulator)."""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import wait_for  # noqa: E402


def start_serve(env, *args):
    """`pigeon serve ARGS` with its log in a file, once it listens; returns (process, log path)."""
    log = os.path.join(env.tmp, "serve.log")
    out = open(log, "w")
    p = subprocess.Popen([e2e.PIGEON, "--config", env.config, "--db", env.db, "serve", *args],
                         stdout=out, stderr=subprocess.STDOUT, text=True)
    env.procs.append(p)

    def text():
        with open(log) as f:
            return f.read()
    wait_for("serve listening", lambda: re.search(r"webhooks listening on", text())
             or p.poll() is not None, timeout=30)
    assert p.poll() is None, text()
    return p, text


def schema(env):
    """(PRAGMA user_version, migrations recorded) of the database file."""
    con = sqlite3.connect(env.db, timeout=10)
    try:
        return (con.execute("PRAGMA user_version").fetchone()[0],
                con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0])
    finally:
        con.close()


def a_second_engine_is_refused_before_it_migrates_the_database(env):
    port, _ = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    env.run("contacts", "import", env.contacts(3)[0])
    first, first_log = start_serve(env)
    # The running engine is an older pigeon: its database is one schema version behind the
    # binary about to start.
    version, migrations = schema(env)
    con = sqlite3.connect(env.db, timeout=10)
    con.execute(f"PRAGMA user_version = {version - 1}")
    con.commit()
    con.close()
    second = env.run("serve", "--until-idle", check=False, timeout=60)
    assert second.returncode != 0, second
    assert "already serving" in second.stderr, second.stderr
    # Refused before it opened the database: nothing migrated under the running engine.
    assert schema(env) == (version - 1, migrations), schema(env)
    con = sqlite3.connect(env.db, timeout=10)
    con.execute(f"PRAGMA user_version = {version}")
    con.commit()
    con.close()
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0, first_log()


def serve_stops_promptly_when_a_heartbeat_is_being_stored_at_sigterm(env):
    port, _ = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    env.run("contacts", "import", env.contacts(3)[0])
    serve, log = start_serve(env)
    time.sleep(1)
    # Another process holds the database's write lock for a while: the engine's claim waits
    # out its busy timeout (5 s) and fails, and the heartbeat (every 5 s) queued behind it is
    # still waiting for the lock when SIGTERM comes.
    con = sqlite3.connect(env.db, timeout=10, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    time.sleep(5.7)
    sent = time.monotonic()
    serve.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    con.execute("ROLLBACK")
    con.close()
    rc = serve.wait(timeout=30)
    took = time.monotonic() - sent
    assert rc == 0, log()
    # Exit follows the lock's release (0.2 s after SIGTERM) at once, not after another
    # heartbeat interval (5 s) re-armed by the beat that was in flight.
    assert took < 3, f"serve took {took:.1f} s to exit after SIGTERM\n{log()}"
    print(f"exited {took:.2f} s after SIGTERM")


def an_outcome_the_store_refuses_is_shown_in_status_and_recorded_once_the_store_takes_it(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    env.run("contacts", "import", env.contacts(3)[0])
    env.run("campaign", "apply", env.campaign("blast", e2e.STEP_NOW))
    refused = "+8613900000001"
    con = sqlite3.connect(env.db, timeout=10)
    con.execute("CREATE TRIGGER refuse BEFORE UPDATE OF state ON messages "
                "WHEN NEW.state = 'submitted' AND NEW.contact_id = "
                f"(SELECT id FROM contacts WHERE phone = '{refused}') "
                "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    con.commit()
    con.close()
    serve, log = start_serve(env)

    def state():
        c = sqlite3.connect(env.db, timeout=10)
        try:
            return c.execute("SELECT m.state FROM messages m JOIN contacts k ON k.id = m.contact_id "
                             "WHERE k.phone = ?", (refused,)).fetchone()[0]
        finally:
            c.close()

    def alert():
        st, _ = env.status()
        found = [a for a in st["alert_details"] if a["name"] == "outcomes_unrecorded"]
        return found[0] if found else None
    # Sent, answered, and its outcome refused: status says so (and why) while the engine retries.
    shown = wait_for("the outcomes_unrecorded alert", alert, timeout=30, describe=log)
    assert "injected failure" in shown["text"], shown
    assert state() == "submitting"
    con = sqlite3.connect(env.db, timeout=10)
    con.execute("DROP TRIGGER refuse")
    con.commit()
    con.close()
    # The store takes it again: recorded while the engine runs, not at the next start.
    wait_for("the outcome recorded", lambda: state() == "submitted", timeout=30, describe=log)
    wait_for("the alert cleared", lambda: alert() is None, timeout=30)
    assert e2e.sends_per_recipient(record).get(refused) == 1
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=30) == 0, log()


def main():
    e2e.run_test_from_argv(globals(), "pigeon-wedge-")


if __name__ == "__main__":
    main()
