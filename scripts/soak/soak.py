#!/usr/bin/env python3
"""Reliability soak of the real `pigeon` binary (see docs/RELIABILITY.md for results).

  soak.py PIGEON kills  [--messages 200000] [--kills 10] [--seed 1]
  soak.py PIGEON faults [--messages 20000] [--fault-seconds 60] [--fail-rate 0.2]
  soak.py PIGEON locked [--messages 5000] [--lock-seconds 8]
  soak.py PIGEON diskfull [--messages 3000]
  soak.py PIGEON short      # all four, small: the version in the normal test run (< 60 s)

Each scenario prints its figures as one JSON line ("result: {...}") and exits non-zero when
an invariant breaks: no message lost, every duplicate explained (flagged as a possible
duplicate), the database passes PRAGMA integrity_check."""
import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))
import e2e  # noqa: E402
from e2e import Env, STEP_NOW, read_records  # noqa: E402


def spawn_serve(env):
    """`pigeon serve` logging to a file: a pipe nobody reads would fill up and block the
    engine's logging (and so the engine) during long runs."""
    path = os.path.join(env.tmp, f"serve-{len(env.procs)}.log")
    with open(path, "w") as log:
        p = subprocess.Popen([e2e.PIGEON, "--config", env.config, "--db", env.db, "serve"],
                             stdout=log, stderr=subprocess.STDOUT, text=True)
    p.log_path = path
    env.procs.append(p)
    return p


def read_log(p):
    with open(p.log_path) as f:
        return f.read()


def integrity(db):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def flagged_recipients(db):
    """Phones whose message the engine flagged as a possible duplicate (resent after an unknown
    outcome)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        return {row[0] for row in con.execute(
            "SELECT c.phone FROM messages m JOIN contacts c ON c.id = m.contact_id "
            "WHERE m.maybe_duplicate = 1")}
    finally:
        con.close()


def tally(record, expected):
    counts = {}
    for r in read_records(record):
        if r.get("status") in (200, 201):
            counts[r["to"]] = counts.get(r["to"], 0) + 1
    missing = set(expected) - set(counts)
    duplicates = sum(c - 1 for c in counts.values())
    return counts, missing, duplicates


def prepare(env, messages, sim_args=(), concurrency=32, extra_config=""):
    port, record = env.simulator(*sim_args)
    env.write_config(f"http://127.0.0.1:{port}", concurrency=concurrency)
    if extra_config:
        with open(env.config, "a") as f:
            f.write(extra_config)
    csv, expected = env.contacts(messages)
    env.run("contacts", "import", csv, timeout=3600)
    env.run("campaign", "apply", env.campaign("soak", STEP_NOW), timeout=3600)
    return port, record, expected


def check_common(env, record, expected, result):
    counts, missing, duplicates = tally(record, expected)
    st, rc = env.status()
    result.update({
        "missing": len(missing),
        "duplicates": duplicates,
        "flagged_possible_duplicates": st["possible_duplicates"],
        "submitted": st["messages"]["submitted"],
        "integrity": integrity(env.db),
    })
    # Every recipient who got their message more than once must have it flagged. (A message can
    # arrive three times when two kills both catch its send in flight: one flag explains both
    # extra copies, so the counts alone are not comparable.)
    flagged = flagged_recipients(env.db)
    unexplained = sorted(to for to, c in counts.items() if c > 1 and to not in flagged)
    result["duplicated_recipients"] = sum(1 for c in counts.values() if c > 1)
    print("result:", json.dumps(result), flush=True)
    assert not unexplained, f"unexplained duplicates: {len(unexplained)} recipients, e.g. {unexplained[:3]}"
    assert not missing, f"{len(missing)} recipients never got their message"
    assert st["messages"]["submitted"] == len(expected), st["messages"]
    assert result["integrity"] == "ok", result["integrity"]


def kills(env, messages, n_kills, seed):
    _, record, expected = prepare(env, messages, ("--latency-ms", "10"))
    rng = random.Random(seed)
    t0 = time.time()
    for _ in range(n_kills):
        before = len(read_records(record))
        p = spawn_serve(env)
        # Kill while sending: once this run's first sends arrive, at a random moment after.
        deadline = time.time() + 300
        while len(read_records(record)) == before and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.1, 2.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
    env.run("serve", "--until-idle", timeout=7200)
    check_common(env, record, expected, {"scenario": "kills", "messages": messages,
                                         "kills": n_kills, "seconds": round(time.time() - t0, 1)})


def control(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_control", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def attempts_per_second(db):
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = con.execute("SELECT at / 1000, count(*) FROM send_ledger GROUP BY 1").fetchall()
        per_message = con.execute(
            "SELECT max(n), avg(n) FROM (SELECT count(*) AS n FROM send_ledger GROUP BY message_id)"
        ).fetchone()
    finally:
        con.close()
    return rows, per_message


def faults(env, messages, fault_seconds, fail_rate):
    # The carrier is paced at 200/s so the fault window covers part of the campaign.
    port, record, expected = prepare(env, messages, ("--fail-rate", str(fail_rate), "--faults",
                                                     "5xx,429,timeout", "--retry-after", "1"))
    with open(env.config) as f:
        cfg = f.read().replace("concurrency: 32,", "concurrency: 32, rate: 200/s, timeout: 2s,")
    assert "rate: 200/s" in cfg, cfg
    with open(env.config, "w") as f:
        f.write(cfg)
    t0 = time.time()
    p = spawn_serve(env)
    time.sleep(fault_seconds)
    control(port, {"fail_rate": 0})
    recovered_at = time.time()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
        raise AssertionError("serve did not exit within 60 s of SIGTERM:\n" + read_log(p)[-3000:])
    sigterm_seconds = round(time.time() - recovered_at, 1)
    env.run("serve", "--until-idle", timeout=7200)
    per_second, (max_attempts, avg_attempts) = attempts_per_second(env.db)
    peak = max(n for _, n in per_second)
    check_common(env, record, expected, {
        "scenario": "faults", "messages": messages, "fault_seconds": fault_seconds,
        "fail_rate": fail_rate, "peak_attempts_per_second": peak, "rate_limit": 200,
        "max_attempts_per_message": max_attempts, "avg_attempts_per_message": round(avg_attempts, 3),
        "sigterm_exit_seconds": sigterm_seconds,
        "seconds_after_recovery": round(time.time() - recovered_at, 1),
        "seconds": round(time.time() - t0, 1)})
    # No retry storm: the lane never exceeds its rate, retries included (1 s buckets, +10%).
    assert peak <= 220, f"{peak} attempts in one second with a 200/s limit"


def locked(env, messages, lock_seconds):
    _, record, expected = prepare(env, messages, ("--latency-ms", "5"))
    p = spawn_serve(env)
    time.sleep(1.0)
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sqlite3, time
con = sqlite3.connect({env.db!r}, isolation_level=None, timeout=30)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep({lock_seconds})
con.execute("ROLLBACK")
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    t_lock = time.time()
    status_during = subprocess.run([e2e.PIGEON, "--config", env.config, "--db", env.db, "status"],
                                   capture_output=True, text=True, timeout=60)
    holder.wait(timeout=lock_seconds + 30)
    alive = p.poll() is None
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)
    log = read_log(p)
    env.run("serve", "--until-idle", timeout=3600)
    check_common(env, record, expected, {
        "scenario": "locked", "messages": messages, "lock_seconds": lock_seconds,
        "engine_survived_lock": alive, "status_exit_during_lock": status_during.returncode,
        "status_error_during_lock": status_during.stderr.strip()[:160],
        "engine_logged_lock": "locked" in log})
    assert alive, "the engine died while the database was locked"
    assert status_during.returncode == 3 and "locked" in status_during.stderr, status_during


def diskfull(env, messages):
    mount = os.path.join(env.tmp, "small")
    os.makedirs(mount)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount],
                      capture_output=True).returncode != 0:
        print("result:", json.dumps({"scenario": "diskfull", "skipped": "cannot mount tmpfs"}))
        return
    try:
        env.db = os.path.join(mount, "pigeon.db")
        _, record, expected = prepare(env, messages, ("--latency-ms", "20"), concurrency=4)
        filler = os.path.join(mount, "filler")
        p = spawn_serve(env)
        time.sleep(1.0)
        # Fill what is left while the engine runs, so its writes fail.
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=16k"], capture_output=True)
        time.sleep(3.0)
        alive = p.poll() is None
        os.remove(filler)  # (integrity_check itself needs room for the WAL index)
        check = integrity(env.db)
        time.sleep(1.0)
        p.send_signal(signal.SIGTERM)
        stop_rc = p.wait(timeout=120)
        log = read_log(p)
        full_lines = [l for l in log.splitlines() if "full" in l.lower()]
        usage = subprocess.run(["du", "-ak", mount], capture_output=True, text=True).stdout
        restart = env.run("serve", "--until-idle", check=False, timeout=600)
        assert restart.returncode == 0, restart.stderr + "\n" + usage
        check_common(env, record, expected, {
            "scenario": "diskfull", "messages": messages, "engine_survived_full_disk": alive,
            "exit_after_sigterm": stop_rc, "integrity_after_full": check,
            "errors_naming_full_disk": len(full_lines),
            "example_error": full_lines[0][-200:] if full_lines else ""})
        assert alive and check == "ok"
    finally:
        subprocess.run(["umount", "-l", mount], capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pigeon")
    ap.add_argument("scenario", choices=["kills", "faults", "locked", "diskfull", "short"])
    ap.add_argument("--messages", type=int)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fault-seconds", type=float, default=60)
    ap.add_argument("--fail-rate", type=float, default=0.2)
    ap.add_argument("--lock-seconds", type=float, default=8)
    a = ap.parse_args()
    e2e.PIGEON = os.path.abspath(a.pigeon)
    runs = {
        "kills": lambda env: kills(env, a.messages or 200000, a.kills, a.seed),
        "faults": lambda env: faults(env, a.messages or 20000, a.fault_seconds, a.fail_rate),
        "locked": lambda env: locked(env, a.messages or 5000, a.lock_seconds),
        "diskfull": lambda env: diskfull(env, a.messages or 3000),
    }
    if a.scenario == "short":
        plan = [lambda env: kills(env, 2000, 2, a.seed),
                lambda env: faults(env, 1500, 4, 0.2),
                # 12 s: longer than status's 5 s busy wait plus its start-up on a loaded machine.
                lambda env: locked(env, 500, 12),
                lambda env: diskfull(env, 300)]
    else:
        plan = [runs[a.scenario]]
    for run in plan:
        with tempfile.TemporaryDirectory(prefix="pigeon-soak-") as tmp:
            env = Env(tmp)
            try:
                run(env)
            finally:
                env.close()


if __name__ == "__main__":
    main()
