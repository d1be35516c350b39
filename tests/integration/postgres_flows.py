#!/usr/bin/env python3
"""The real `pigeon` binary on PostgreSQL (`database: postgresql://...`, --db URL): each test starts
a throwaway cluster (pgcluster.py: Unix socket only) and stops it. Run one test:
postgres_flows.py PIGEON_BINARY TEST_NAME."""
import collections
import glob
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess

import e2e
import pgcluster

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "config", "examples")
DEMO_START = "sim:2026-12-01T00:00:00Z"  # scripts/demo.sh's: before the examples' Double 12


def write_demo_config(env):
    """The demo's engine config (config/examples/engine/pigeon.yaml) with its carrier the
    engine's embedded simulator (sends, no receipts: every run ends in the same states) and
    listeners on free ports."""
    with open(os.path.join(EXAMPLES, "engine", "pigeon.yaml")) as f:
        text = f.read()
    text = re.sub(r"(?m)^database: .*$", f"database: {env.db}", text)
    text = re.sub(r"(?m)^listen: .*$", 'listen: { webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }',
                  text)
    text = re.sub(r"(?m)^media_dir: .*$", f"media_dir: {os.path.join(EXAMPLES, 'assets')}", text)
    text = re.sub(r"(?m)^  sandbox: \{.*\n.*\}\n", "  sandbox: { kind: simulator }\n", text)
    assert "kind: simulator }" in text, text
    with open(env.config, "w") as f:
        f.write(text)


def run_demo(env):
    """scripts/demo.sh's campaigns on env.db (a file or a URL): the example contacts imported,
    the example campaigns applied and played out on the simulated clock to their end states."""
    env.run("contacts", "import", os.path.join(EXAMPLES, "contacts.csv"))
    for campaign in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
        env.run("campaign", "apply", "--clock", DEMO_START, campaign)
    env.run("serve", "--until-idle", "--clock", DEMO_START, "--no-admin", timeout=300)


def run_journeys(env):
    """scripts/demo.sh's lifecycle journeys (config/examples/journeys) on env.db: a year of them
    on the simulated clock, which fills the journey tables."""
    journeys = os.path.join(EXAMPLES, "journeys")
    env.run("contacts", "import", os.path.join(journeys, "contacts.csv"))
    for journey in sorted(glob.glob(os.path.join(journeys, "*.yaml"))):
        env.run("campaign", "apply", "--clock", DEMO_START, journey)
    env.run("serve", "--until-idle", "--clock", DEMO_START, "--until", "2027-12-01T00:00:00Z",
            "--no-admin", timeout=300)


def demo_counts(env):
    """What a user reads of a finished demo: messages per (campaign, step, variant, state),
    status's counts by state, and each campaign's report funnel."""
    msgs = json.loads(env.run("messages", "--json").stdout)
    by = collections.Counter((m["campaign"], m["step"], m.get("variant", ""), m["state"])
                             for m in msgs)
    status, _ = env.status()
    reports = {}
    for name in sorted({m["campaign"] for m in msgs}):
        report = json.loads(env.run("report", name, "--json").stdout)
        reports[name] = report["funnel"]
    return by, status["messages"], reports


# Columns compared row by row after a copy (ids kept).
COPIED_ROWS = {
    "contacts": ["id", "phone", "tags", "attributes", "tz", "created_at"],
    "campaigns": ["name", "version", "content_hash", "source_text", "applied_at"],
    "messages": ["id", "contact_id", "campaign", "step", "variant", "state", "due_at", "body"],
    "send_ledger": ["id", "message_id", "attempt", "provider", "at", "outcome"],
}


def sqlite_digest(path, table, columns):
    """The rows of a SQLite table, ordered by their first column, as one hash."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(f"SELECT {', '.join(columns)} FROM {table} "
                          f"ORDER BY {', '.join(columns[:2])}").fetchall()
    finally:
        db.close()
    text = "\n".join("|".join(str(v) for v in row) for row in rows)
    return hashlib.md5(text.encode()).hexdigest()


def rows_digest(pg, database, table, columns):
    """The same hash of the table in a PostgreSQL database."""
    fields = " || '|' || ".join(f"{c}::text" for c in columns)
    return pg.psql(database, f"SELECT md5(coalesce(string_agg({fields}, E'\\n' "
                             f"ORDER BY {', '.join(columns[:2])}), '')) FROM {table}")


def on_postgres(env, pg, name):
    """Points env at a fresh database of the cluster (--db URL), the config's `database` too."""
    env.db = pg.create_database(name)
    return env.db


def the_demo_flow_on_postgresql_gives_the_same_counts_as_on_sqlite(env):
    write_demo_config(env)
    run_demo(env)
    on_sqlite = demo_counts(env)
    assert sum(on_sqlite[0].values()) > 0, on_sqlite
    with pgcluster.cluster() as pg:
        on_postgres(env, pg, "demo")
        write_demo_config(env)
        run_demo(env)
        on_pg = demo_counts(env)
    assert on_pg[0] == on_sqlite[0], (on_pg[0], on_sqlite[0])
    assert on_pg[1] == on_sqlite[1], (on_pg[1], on_sqlite[1])
    assert on_pg[2] == on_sqlite[2], (on_pg[2], on_sqlite[2])


def db_copy_of_a_demo_database_passes_the_count_check_and_a_second_copy_is_refused(env):
    write_demo_config(env)
    run_demo(env)
    source = env.db
    campaigns = env.run("campaign", "list").stdout
    with pgcluster.cluster() as pg:
        url = pg.create_database("moved")
        p = env.run("db", "copy", "--from", source, "--to", url, "--json")
        copied = json.loads(p.stdout)
        assert copied["committed"], copied
        tables = {t["table"]: t for t in copied["tables"]}
        for name in ("contacts", "campaigns", "campaign_heads", "campaign_templates",
                     "campaign_replies", "messages", "send_ledger"):
            assert tables[name]["source"] == tables[name]["target"] > 0, (name, tables[name])
        assert all(t["source"] == t["target"] for t in copied["tables"]), copied
        # The rows themselves, ids included, as the server holds them.
        for table, columns in COPIED_ROWS.items():
            assert rows_digest(pg, "moved", table, columns) == sqlite_digest(source, table, columns), table

        # What a user reads of the copy is what they read of the file.
        env.db = url
        assert env.run("campaign", "list").stdout == campaigns
        # A new contact gets a fresh id past the copied ones (the sequences were reset).
        extra = os.path.join(env.tmp, "extra.csv")
        with open(extra, "w") as f:
            f.write("phone,tags\n+8613900001234,member\n")
        env.run("contacts", "import", extra)
        newest = int(pg.psql("moved", "SELECT id FROM contacts WHERE phone = '+8613900001234'"))
        assert newest == tables["contacts"]["source"] + 1 == int(
            pg.psql("moved", "SELECT max(id) FROM contacts")), newest
        contacts = tables["contacts"]["source"] + 1

        # The target is no longer empty: a second copy is refused and writes nothing.
        before = pg.psql("moved", "SELECT count(*) FROM messages")
        again = env.run("db", "copy", "--from", source, "--to", url, check=False)
        assert again.returncode == 1, (again.returncode, again.stdout, again.stderr)
        assert "db copy only fills an empty database" in again.stderr, again.stderr
        assert f"has {contacts} contacts" in again.stderr, again.stderr
        assert pg.psql("moved", "SELECT count(*) FROM messages") == before

        # The journeys demo fills the journey tables: they move too.
        env.db = os.path.join(env.tmp, "journeys.db")
        run_journeys(env)
        journeys = json.loads(env.run("db", "copy", "--from", env.db, "--to",
                                      pg.create_database("journeys"), "--json").stdout)
        tables = {t["table"]: t for t in journeys["tables"]}
        assert journeys["committed"], journeys
        for name in ("journey_entries", "journey_members", "journey_dates", "journey_clock"):
            assert tables[name]["source"] == tables[name]["target"] > 0, (name, tables[name])


def start_node(env, pg, database, name):
    """`serve --node NAME`, once it logged that it serves (registered, recovered) and its
    heartbeat row says it runs."""
    node = env.spawn("serve", "--node", name, "--no-admin")
    while True:
        line = node.stdout.readline()
        if not line:
            raise AssertionError(f"node {name} exited {node.wait()}: {node.stderr.read()}")
        if f"engine {name} serving" in line:
            break
    assert pg.psql(database, "SELECT count(*) FROM engine_heartbeat WHERE owner = "
                             f"'{name}' AND stopped_at IS NULL") == "1"
    return node


def serve_refuses_a_second_node_of_the_same_name(env):
    with pgcluster.cluster() as pg:
        on_postgres(env, pg, "nodes")
        env.write_config("http://127.0.0.1:9")  # never used: nothing is queued
        first = start_node(env, pg, "nodes", "alpha")

        second = env.run("serve", "--node", "alpha", "--no-admin", check=False, timeout=60)
        assert second.returncode != 0, second.stdout
        assert re.search(r"another node named alpha is running .*\(heartbeat \d+s ago\)",
                         second.stderr), second.stderr
        # The refused one left the running node's registration alone.
        assert pg.psql("nodes", "SELECT count(*) FROM engine_heartbeat WHERE owner = 'alpha' "
                                "AND stopped_at IS NULL") == "1"
        # Another name is another node: it starts beside the first.
        other = start_node(env, pg, "nodes", "beta")

        # Once alpha stopped cleanly, its name is free again at once.
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0, first.stderr.read()
        again = start_node(env, pg, "nodes", "alpha")
        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=60) == 0, again.stderr.read()
        other.send_signal(signal.SIGTERM)
        assert other.wait(timeout=60) == 0, other.stderr.read()


def a_node_that_cannot_start_frees_its_name_at_once(env):
    with pgcluster.cluster() as pg:
        on_postgres(env, pg, "busy")
        env.write_config("http://127.0.0.1:9")
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with open(env.config) as f:
            config = f.read()
        with open(env.config, "w") as f:
            f.write(config.replace('webhooks: "127.0.0.1:0"',
                                   f'webhooks: "127.0.0.1:{taken.getsockname()[1]}"'))
        # Registered, then its webhooks listener cannot bind: it stops with an error...
        p = env.run("serve", "--node", "gamma", "--no-admin", check=False, timeout=60)
        assert p.returncode != 0, p.stdout
        assert pg.psql("busy", "SELECT count(*) FROM engine_heartbeat WHERE owner = 'gamma' "
                               "AND stopped_at IS NOT NULL") == "1"
        taken.close()
        with open(env.config, "w") as f:
            f.write(config)
        # ...and its name is free at once, not 15 s later.
        node = start_node(env, pg, "busy", "gamma")
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=60) == 0, node.stderr.read()


def an_unreachable_database_gives_a_clear_error_and_exit_code(env):
    env.write_config("http://127.0.0.1:9")
    gone = os.path.join(env.tmp, "no-server")
    os.mkdir(gone)
    # A password in the URL is never printed.
    env.db = f"postgresql://pigeon:s3cret@/pigeon?host={gone}"
    for args, code in ((["status"], 3), (["messages"], 2), (["contacts", "list"], 2),
                       (["report", "any"], 2), (["serve", "--until-idle"], 2)):
        p = env.run(*args, check=False, timeout=60)
        assert p.returncode == code, (args, p.returncode, p.stdout, p.stderr)
        assert "cannot connect to postgresql://pigeon:***@/pigeon" in p.stderr, (args, p.stderr)
        assert "s3cret" not in p.stderr + p.stdout, (args, p.stderr)

    # The config's `database` with the password from the environment: expanded, then masked.
    os.environ["PIGEON_TEST_PG_PASSWORD"] = "from-env-s3cret"
    with open(env.config) as f:
        config = f.read()
    with open(env.config, "w") as f:
        f.write(re.sub(r"(?m)^database: .*$", "database: postgresql://pigeon:"
                       "${PIGEON_TEST_PG_PASSWORD}@/pigeon?host=" + gone, config))
    p = subprocess.run([e2e.PIGEON, "--config", env.config, "messages"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "cannot connect to postgresql://pigeon:***@/pigeon" in p.stderr, p.stderr
    assert "from-env-s3cret" not in p.stderr + p.stdout, p.stderr


def serve_refuses_a_database_whose_schema_is_newer_than_this_binary(env):
    with pgcluster.cluster() as pg:
        on_postgres(env, pg, "newer")
        env.write_config("http://127.0.0.1:9")
        env.run("campaign", "list")  # brings the schema
        pg.psql("newer", "UPDATE pigeon_schema SET version = version + 1")
        p = env.run("serve", "--until-idle", "--no-admin", check=False, timeout=60)
        assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
        assert "newer than this pigeon's" in p.stderr and "upgrade" in p.stderr, p.stderr


def main():
    e2e.run_test_from_argv(globals(), "pigeon-postgres-")


if __name__ == "__main__":
    main()
