#!/usr/bin/env python3
"""Operations tests of the `pigeon` binary: status exit codes and bad input, SIGTERM drain,
pause/resume on a running engine, the admin endpoints. Run one: ops.py PIGEON_BINARY TEST_NAME.
Reuses e2e.py's Env (temp folder, config, simulator)."""
import json
import os
import signal
import sqlite3
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import STEP_NOW, free_port, read_records, sends_per_recipient, wait_for  # noqa: E402


def append_config(env, text):
    with open(env.config, "a") as f:
        f.write(text)


def write_paced_config(env, port, rate):
    """The standard config with the carrier at concurrency 4 and `rate`; returns its text."""
    env.write_config(f"http://127.0.0.1:{port}", concurrency=4)
    with open(env.config) as f:
        text = f.read().replace("concurrency: 4,", f"concurrency: 4, rate: {rate},")
    assert f"rate: {rate}" in text, text
    with open(env.config, "w") as f:
        f.write(text)
    return text


def db_states(env):
    con = sqlite3.connect(env.db, timeout=10)
    try:
        return dict(con.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall())
    finally:
        con.close()


def status_exit_codes_follow_the_alerts(env):
    port, _ = env.simulator("--reject-prefix", "+8613900000029")
    env.write_config(f"http://127.0.0.1:{port}")
    # critical: messages due for longer than the critical threshold and no engine running.
    append_config(env, "alerts: { oldest_due_warning: 1s, oldest_due_critical: 2s }\n")
    csv, _ = env.contacts(30)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    time.sleep(2.5)
    st, rc = env.status()
    assert rc == 2, st
    assert [a["name"] for a in st["alert_details"]] == ["oldest_due"], st["alert_details"]
    text = env.run("status", check=False)
    assert text.returncode == 2 and "pigeon CRITICAL" in text.stdout, text.stdout
    assert "\033[" not in text.stdout, "colour codes when stdout is not a terminal"
    # warning: one recipient in 30 rejected (3% of attempts, below the failure-rate warning).
    env.run("serve", "--until-idle", timeout=120)
    st, rc = env.status()
    assert rc == 1, st
    assert [a["name"] for a in st["alert_details"]] == ["failed_messages"], st["alert_details"]
    assert st["rates"]["last_hour"]["attempts"] == 30, st["rates"]
    assert st["providers"][0]["name"] == "carrier" and st["providers"][0]["p99_latency_ms"] is not None
    assert st["campaigns"][0]["steps"][0]["sent"] == 29, st["campaigns"]
    # warning -> critical when the failure-rate threshold is below 3%.
    with open(env.config) as f:
        cfg = f.read().replace("oldest_due_critical: 2s }", "oldest_due_critical: 2s, "
                               "failure_rate_warning: 1%, failure_rate_critical: 2% }")
    with open(env.config, "w") as f:
        f.write(cfg)
    st, rc = env.status()
    assert rc == 2 and "failure_rate" in [a["name"] for a in st["alert_details"]], st
    # ok: a clean campaign in a fresh database.
    env.db = os.path.join(env.tmp, "clean.db")
    env.write_config(f"http://127.0.0.1:{port}")
    csv, _ = env.contacts(20)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("clean", STEP_NOW))
    env.run("serve", "--until-idle", timeout=120)
    st, rc = env.status()
    assert rc == 0, st
    assert st["alerts"] == [], st


def status_refuses_bad_input_with_a_clear_message(env):
    env.write_config("http://127.0.0.1:9")
    # no database yet: not created by status
    p = env.run("status", check=False)
    assert p.returncode == 3 and "no database at" in p.stderr, p
    assert not os.path.exists(env.db)
    # a corrupt file
    with open(env.db, "wb") as f:
        f.write(b"this is not sqlite" * 100)
    p = env.run("status", check=False)
    assert p.returncode == 3 and "not a pigeon database or is corrupt" in p.stderr, p
    os.remove(env.db)
    # a foreign database: refused and untouched
    con = sqlite3.connect(env.db)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    p = env.run("status", check=False)
    assert p.returncode == 3 and "is not a pigeon database" in p.stderr, p
    con = sqlite3.connect(env.db)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    con.close()
    assert tables == ["invoices"], tables
    os.remove(env.db)
    # a newer schema
    env.run("contacts", "import", env.contacts(1)[0])
    con = sqlite3.connect(env.db)
    con.execute("PRAGMA user_version = 999")
    con.commit()
    con.close()
    p = env.run("status", check=False)
    assert p.returncode == 3 and "upgrade pigeon" in p.stderr, p
    # a missing config given explicitly
    p = e2e.subprocess.run([e2e.PIGEON, "--config", os.path.join(env.tmp, "nope.yaml"), "status"],
                           capture_output=True, text=True, timeout=60)
    assert p.returncode == 3 and "engine config not found" in p.stderr, p
    # a config with a bad threshold names its place
    append_config(env, "alerts: { oldest_due_warning: soon }\n")
    p = env.run("status", check=False)
    assert p.returncode == 3 and "pigeon.yaml:" in p.stderr and "soon" in p.stderr, p


def drain_setup(env, latency_ms, drain, contacts=200, concurrency=8):
    port, record = env.simulator("--latency-ms", str(latency_ms))
    env.write_config(f"http://127.0.0.1:{port}", concurrency=concurrency)
    append_config(env, f"drain_timeout: {drain}\n")
    csv, expected = env.contacts(contacts)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    return record, expected


def sigterm_drains_in_flight_sends_and_leaves_nothing_leased(env):
    record, expected = drain_setup(env, latency_ms=300, drain="5s")
    p = env.spawn("serve")
    wait_for("sends to start", lambda: len(read_records(record)) >= 16, 30)
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    took = time.time() - t0
    assert rc == 0, p.stderr.read()
    assert took < 5, f"drain took {took:.1f}s"
    states = db_states(env)
    assert "leased" not in states and "submitting" not in states, states
    sent_before = len(read_records(record))
    assert sent_before < 200, "the campaign finished before the signal; nothing was drained"
    env.run("serve", "--until-idle", timeout=120)
    counts = sends_per_recipient(record)
    assert set(counts) == set(expected), f"{len(set(expected) - set(counts))} never sent"
    assert all(c == 1 for c in counts.values()), "a recipient got two messages"
    st, _ = env.status()
    assert st["possible_duplicates"] == 0 and st["messages"]["submitted"] == 200, st
    print(f"SIGTERM drained in {took:.2f}s after {sent_before} sends; restart sent the rest once")


def sigterm_past_the_drain_deadline_abandons_requests_for_recovery(env):
    record, expected = drain_setup(env, latency_ms=3000, drain="1s", contacts=24)
    p = env.spawn("serve")
    wait_for("sends to start", lambda: len(read_records(record)) >= 8, 30)
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    took = time.time() - t0
    assert rc == 0, p.stderr.read()
    assert 0.9 < took < 3.5, f"stopped after {took:.1f}s with drain_timeout 1s"
    states = db_states(env)
    assert "leased" not in states, states
    assert states.get("submitting") == 8, states  # abandoned: outcome unknown
    env.run("serve", "--until-idle", timeout=120)
    st, _ = env.status()
    assert st["messages"]["submitted"] == 24, st["messages"]
    assert st["possible_duplicates"] == 8, st
    counts = sends_per_recipient(record)
    assert set(counts) == set(expected)
    assert sum(c - 1 for c in counts.values()) <= 8


def pause_and_resume_take_effect_on_a_running_engine(env):
    port, record = env.simulator()
    write_paced_config(env, port, "40/s")
    csv, expected = env.contacts(200)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    p = env.spawn("serve")
    wait_for("sends to start", lambda: len(read_records(record)) >= 20, 30)
    env.run("campaign", "pause", "blast")
    time.sleep(1.0)  # the promise: within a second
    at_grace = len(read_records(record))
    time.sleep(1.5)
    after = len(read_records(record))
    assert after == at_grace, f"{after - at_grace} sends more than 1s after pause"
    assert after < 200, "the campaign finished before the pause took effect"
    env.run("campaign", "resume", "blast")
    wait_for("all sends after resume", lambda: len(read_records(record)) >= 200, 60)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    counts = sends_per_recipient(record)
    assert set(counts) == set(expected) and all(c == 1 for c in counts.values())
    print(f"paused at {at_grace} of 200; resumed and completed exactly once")


def sighup_applies_a_new_provider_rate_to_a_running_engine(env):
    port, record = env.simulator()
    slow = write_paced_config(env, port, "5/s")
    csv, expected = env.contacts(150)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    p = env.spawn("serve")
    wait_for("sends to start", lambda: len(read_records(record)) >= 5, 30)
    with open(env.config, "w") as f:
        f.write(slow.replace("rate: 5/s", "rate: 500/s"))
    p.send_signal(signal.SIGHUP)
    reloaded = time.time()
    # At 5/s the rest would take about 30 s; at the reloaded rate, well under 10 s.
    wait_for("the rest at the reloaded rate", lambda: len(read_records(record)) >= 150, 10)
    took = time.time() - reloaded
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0
    counts = sends_per_recipient(record)
    assert set(counts) == set(expected) and all(c == 1 for c in counts.values())
    print(f"after SIGHUP the remaining sends took {took:.1f}s; each recipient got one message")


def admin_endpoints_serve_metrics_health_and_status(env):
    port, _ = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    admin = free_port()
    with open(env.config) as f:
        cfg = f.read().replace('admin: "127.0.0.1:0"', f'admin: "127.0.0.1:{admin}"')
    with open(env.config, "w") as f:
        f.write(cfg + "admin_token: ${OPS_TEST_TOKEN}\n")
    os.environ["OPS_TEST_TOKEN"] = "t0ken"
    csv, _ = env.contacts(50)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    p = env.spawn("serve")
    base = f"http://127.0.0.1:{admin}"

    def get(path, token="t0ken"):
        req = urllib.request.Request(base + path)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    wait_for("/healthz", lambda: get("/healthz")[0] == 200, 30)
    assert get("/healthz", token=None)[0] == 401
    assert get("/healthz", token="wrong")[0] == 401
    assert get("/nope")[0] == 404
    wait_for("sends", lambda: json.loads(get("/status")[1])["messages"]["submitted"] == 50, 30)
    code, body = get("/status")
    st = json.loads(body)
    assert code == 200 and st["engine"]["up"], st
    wait_for("metrics refresh",
             lambda: 'pigeon_messages{state="submitted"} 50' in get("/metrics")[1], 30)
    code, metrics = get("/metrics")
    assert "# TYPE pigeon_submit_latency_seconds histogram" in metrics, metrics
    assert 'pigeon_submit_latency_seconds_count{provider="carrier"} 50' in metrics, metrics
    # Every answer counted once in its lane's series; no ok="false" series without a failure.
    assert 'pigeon_carrier_responses_total{provider="carrier",ok="true"} 50' in metrics, metrics
    assert 'ok="false"' not in metrics, metrics
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0


def main():
    e2e.run_test_from_argv(globals(), "pigeon-ops-")


if __name__ == "__main__":
    main()
