#!/usr/bin/env python3
"""End-to-end tests: the real `pigeon` binary, a real SQLite file, real HTTP over loopback to
`pigeon simulate-carrier`. Run one test: e2e.py PIGEON_BINARY TEST_NAME."""
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

PIGEON = None
# The environment variable holding the secret the simulator signs its callbacks with and the
# engine checks them with (a simulator provider at a url must have one): set for every test.
SIM_SECRET_ENV = "PIGEON_SIM_SECRET"


class Env:
    """A temp folder with a config, a database and helpers to run pigeon in it."""

    def __init__(self, tmp):
        # The simulator signs its callbacks and the provider config names this variable.
        os.environ.setdefault(SIM_SECRET_ENV, "sim-" + os.urandom(16).hex())
        self.tmp = tmp
        self.db = os.path.join(tmp, "pigeon.db")
        self.config = os.path.join(tmp, "pigeon.yaml")
        self.procs = []

    def run(self, *args, check=True, timeout=600):
        cmd = [PIGEON, "--config", self.config, "--db", self.db, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def spawn(self, *args, with_config=True):
        cmd = [PIGEON] + (["--config", self.config, "--db", self.db] if with_config else []) + list(args)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def simulator(self, *extra):
        """`pigeon simulate-carrier` on a free port, signing its callbacks with SIM_SECRET_ENV
        (unless `extra` names another secret), as write_config's provider expects."""
        record = os.path.join(self.tmp, "submissions.jsonl")
        if "--webhook-secret-env" not in extra:
            extra = ("--webhook-secret-env", SIM_SECRET_ENV) + tuple(extra)
        p = self.spawn("simulate-carrier", "--port", "0", "--record", record, *extra,
                       with_config=False)
        deadline = time.time() + 30
        while time.time() < deadline:
            line = p.stdout.readline()
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line or "")
            if m:
                return int(m.group(1)), record
            if p.poll() is not None:
                break
        raise AssertionError("simulator did not start: " + p.stderr.read())

    def write_config(self, url, concurrency=32):
        with open(self.config, "w") as f:
            f.write(f"""database: {self.db}
default_timezone: Asia/Shanghai
default_region: CN
listen: {{ webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }}
reconcile_grace: 1s
senders:
  shop:
    signature: "[Shop]"
    opt_out_hint: "Reply STOP to opt out"
    route: [carrier]
providers:
  carrier: {{ kind: simulator, url: "{url}", concurrency: {concurrency},
             webhook_secret: "${{{SIM_SECRET_ENV}}}" }}
""")

    def campaign(self, name, steps_yaml, anchor=None):
        path = os.path.join(self.tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write(f"campaign: {name}\nsender: shop\ncategory: marketing\n")
            if anchor:
                f.write(f"anchor: {anchor}\n")
            f.write("audience: { all_tags: [member] }\nsteps:\n" + steps_yaml)
        return path

    def contacts(self, n):
        path = os.path.join(self.tmp, "contacts.csv")
        expected = {}
        with open(path, "w") as f:
            f.write("phone,first_name,code,tags\n")
            for i in range(n):
                phone = f"+86139{i:08d}"
                f.write(f"{phone},U{i},C{i * 7 % 100000},member\n")
                expected[phone] = f"[Shop]Hi U{i}, your code is C{i * 7 % 100000} Reply STOP to opt out"
        return path, expected

    def status(self):
        p = self.run("status", "--json", check=False)
        return json.loads(p.stdout), p.returncode

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def wait_for(what, fn, timeout=60, describe=None):
    """Polls fn until it returns a truthy value (returned), or fails after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    detail = f"; {describe()}" if describe else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")


def free_port():
    """A loopback port free right now (for listeners whose port must be in a config)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_test_from_argv(namespace, prefix):
    """`script.py PIGEON_BINARY TEST_NAME`: runs namespace[TEST_NAME](Env) in a temp folder."""
    global PIGEON
    PIGEON, name = sys.argv[1], sys.argv[2]
    os.environ.setdefault(SIM_SECRET_ENV, "sim-" + os.urandom(16).hex())
    test = namespace[name]
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        env = Env(tmp)
        try:
            test(env)
        finally:
            env.close()
    print("ok:", name.replace("_", " "))


def read_records(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def sends_per_recipient(record):
    """How many submissions the simulator recorded per recipient number."""
    counts = {}
    for r in read_records(record):
        counts[r["to"]] = counts.get(r["to"], 0) + 1
    return counts


STEP_NOW = """  - id: hello
    at: now
    sms: { text: "Hi {{first_name}}, your code is {{code}}" }
"""

# A step due now, one far in the future (to see it suppressed or cancelled) and keyword "1".
KEYWORD_STEPS = """  - id: hello
    at: now
    sms: { text: "Hi {{first_name}}, your code is {{code}}" }
  - id: later
    at: "2099-01-01 10:00"
    sms: { text: "Later, {{first_name}}" }
replies:
  valid_for: 7d
  keywords:
    "1": { tag: wants-sample, respond: "Sample reserved for you" }
"""


def every_contact_gets_exactly_one_message_with_the_right_text(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    csv, expected = env.contacts(10000)
    out = env.run("contacts", "import", csv).stdout
    assert "imported 10000 contacts" in out, out
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    t0 = time.time()
    env.run("serve", "--until-idle", timeout=900)
    elapsed = time.time() - t0
    subs = [r for r in read_records(record) if r.get("status") in (200, 201)]
    by_phone = {}
    for r in subs:
        by_phone.setdefault(r["to"], []).append(r["text"])
    assert len(by_phone) == 10000, f"{len(by_phone)} recipients reached"
    dupes = {k: v for k, v in by_phone.items() if len(v) != 1}
    assert not dupes, f"{len(dupes)} recipients got more than one message"
    wrong = [(k, v[0], expected[k]) for k, v in by_phone.items() if v[0] != expected[k]]
    assert not wrong, f"wrong texts, e.g. {wrong[:3]}"
    st, rc = env.status()
    assert st["messages"]["submitted"] == 10000, st["messages"]
    assert rc == 0, st
    print(f"10000 messages in {elapsed:.1f}s")


def a_killed_engine_restarts_without_losing_messages_and_counts_duplicates(env):
    port, record = env.simulator("--latency-ms", "15")
    concurrency = 32
    env.write_config(f"http://127.0.0.1:{port}", concurrency=concurrency)
    csv, expected = env.contacts(10000)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        p = env.spawn("serve")
        time.sleep(rng.uniform(0.8, 2.0))
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
    env.run("serve", "--until-idle", timeout=900)
    subs = [r for r in read_records(record) if r.get("status") in (200, 201)]
    counts = {}
    for r in subs:
        counts[r["to"]] = counts.get(r["to"], 0) + 1
        assert r["text"] == expected[r["to"]], r
    missing = set(expected) - set(counts)
    assert not missing, f"{len(missing)} contacts never got their message"
    duplicates = sum(c - 1 for c in counts.values())
    st, _ = env.status()
    assert st["messages"]["submitted"] == 10000, st["messages"]
    possible = st["possible_duplicates"]
    assert duplicates <= possible, f"{duplicates} duplicates but only {possible} explained"
    assert possible <= kills * concurrency, f"{possible} resends exceed the in-flight window"
    print(f"{kills} kills: {duplicates} duplicates, {possible} flagged as possible duplicates")


def a_second_engine_on_the_same_database_is_refused(env):
    port, _ = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    first = env.spawn("serve")
    time.sleep(1.5)
    assert first.poll() is None, first.stderr.read()
    second = env.run("serve", "--until-idle", check=False, timeout=60)
    assert second.returncode != 0
    assert "already serving" in second.stderr, second.stderr
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0, first.stderr.read()


def a_malformed_csv_row_is_reported_with_its_line_and_the_rest_imported(env):
    env.write_config("http://127.0.0.1:9")
    path = os.path.join(env.tmp, "bad.csv")
    with open(path, "w") as f:
        f.write("phone,first_name,tags\n+8613900000001,A,member\nnot-a-phone,B,member\n"
                "+8613900000003,C\n\"+8613900000004\",\"D, the \"\"fourth\"\"\",member\n")
    p = env.run("contacts", "import", path, check=False)
    assert p.returncode == 1, p
    assert f"{path}:3: rejected: phone `not-a-phone`" in p.stderr, p.stderr
    assert f"{path}:4: rejected: expected 3 fields, found 2" in p.stderr, p.stderr
    assert "imported 2 contacts" in p.stdout, p.stdout
    st, _ = env.status()
    assert st["contacts"] == 2, st


def a_yaml_typo_is_reported_with_its_place_and_nothing_is_applied(env):
    env.write_config("http://127.0.0.1:9")
    path = env.campaign("typo", "  - id: hello\n    at: now\n    smss: { text: hi }\n")
    p = env.run("campaign", "apply", path, check=False)
    assert p.returncode == 1, p
    assert re.search(re.escape(path) + r":8:5: .*smss", p.stderr), p.stderr
    # nothing applied: a refused apply does not even create the database
    assert not os.path.exists(env.db)
    p = env.run("campaign", "list", "--json", check=False)
    assert p.returncode == 2 and "no database at" in p.stderr, p


def an_unreachable_carrier_is_retried_and_status_says_so(env):
    env.write_config("http://127.0.0.1:9")  # the discard port: nothing listens
    csv, _ = env.contacts(20)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    p = env.spawn("serve")
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=30) == 0, p.stderr.read()
    st, rc = env.status()
    assert st["messages"]["retry"] == 20, st["messages"]
    assert rc == 2, st  # every attempt of the last hour failed: critical
    assert any("retry" in a for a in st["alerts"]), st["alerts"]
    rows = json.loads(env.run("messages", "--json").stdout)
    # The lane's circuit opens after 20 failed connects; then the reason names the open circuit
    # and the provider's last error.
    assert all("transport: could not connect" in r["reason"] for r in rows), rows[0]


def a_simulated_clock_runs_a_sequence_to_its_end(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    csv, _ = env.contacts(5)
    env.run("contacts", "import", csv)
    steps = """  - id: first
    at: "-1d 10:30"
    sms: { text: "first {{first_name}}" }
  - id: second
    at: "+1d 15:00"
    sms: { text: "second {{first_name}}" }
"""
    env.run("campaign", "apply", env.campaign("seq", steps, anchor="2030-01-10"))
    env.run("serve", "--until-idle", "--clock", "sim:2030-01-01T00:00:00Z", timeout=120)
    texts = sorted(r["text"] for r in read_records(record))
    assert len(texts) == 10, texts
    rows = json.loads(env.run("messages", "--json").stdout)
    sent = {r["step"]: r["sent"] for r in rows}
    # 10:30 and 15:00 in Asia/Shanghai are 02:30Z and 07:00Z.
    assert sent["first"].startswith("2030-01-09T02:30"), sent
    assert sent["second"].startswith("2030-01-11T07:00"), sent


def an_overflowing_first_name_makes_apply_refuse_and_names_the_contact(env):
    env.write_config("http://127.0.0.1:9")
    long_name = "Maximilian" * 14
    path = os.path.join(env.tmp, "contacts.csv")
    with open(path, "w") as f:
        f.write("phone,first_name,code,tags\n+8613900000000,Ann,C1,member\n"
                f"+8613900000001,{long_name},C2,member\n+8613900000002,Bob,C3,member\n")
    env.run("contacts", "import", path)
    campaign = env.campaign("long", STEP_NOW)
    p = env.run("campaign", "apply", campaign, check=False)
    assert p.returncode == 1, p
    assert re.search(re.escape(campaign) + r":\d+:\d+: step `hello` variant A", p.stderr), p.stderr
    assert "+86*********01" in p.stderr and long_name in p.stderr, p.stderr
    assert "+86*********00" not in p.stderr, p.stderr
    listed = env.run("campaign", "list", "--json").stdout
    assert json.loads(listed) == [], listed
    p = env.run("campaign", "preview", campaign, "--json", check=False)
    assert p.returncode == 1, p
    out = json.loads(p.stdout)
    step = out["steps"][0]
    assert not step["fits"] and step["max_segments"] == 2, step
    samples = {s["phone"]: s for s in step["samples"]}
    assert samples["+86*********00"]["encoding"] == "GSM-7", samples
    assert samples["+86*********00"]["segments"] == 1, samples
    assert samples["+86*********01"]["segments"] == 2, samples
    problem = out["problems"][0]
    assert problem["problem"] == "sms_overflow" and problem["recipients"] == 1, problem
    assert problem["examples"][0]["values"]["first_name"] == long_name, problem
    p = env.run("campaign", "preview", campaign, "--contact", "13900000002", check=False)
    assert "[Shop]Hi Bob, your code is C3 Reply STOP to opt out" in p.stdout, p.stdout
    assert "+86*********01" in p.stdout, p.stdout  # in the overflow report
    p = env.run("campaign", "preview", campaign, "--contact", "+8613900000009", check=False)
    assert p.returncode == 1 and "no contact" in p.stderr, p.stderr


def a_step_outside_its_window_is_deferred_into_it_or_expires_rather_than_go_late(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    with open(env.config, "a") as f:
        f.write('policy: { quiet_hours: "21:00-08:00" }\n')
    csv, _ = env.contacts(3)
    env.run("contacts", "import", csv)
    steps = """  - id: early
    at: "0d 09:00"
    window: { between: "10:30-11:00" }
    sms: { text: "early {{first_name}}" }
  - id: late
    at: "0d 22:00"
    window: { between: "10:30-11:00" }
    sms: { text: "late {{first_name}}" }
  - id: night
    at: "0d 23:30"
    sms: { text: "night {{first_name}}" }
"""
    env.run("campaign", "apply", env.campaign("windows", steps, anchor="2030-01-10"))
    env.run("serve", "--until-idle", "--clock", "sim:2030-01-09T00:00:00Z", timeout=120)
    rows = json.loads(env.run("messages", "--json").stdout)
    by_step = {}
    for r in rows:
        by_step.setdefault(r["step"], []).append(r)
    # 09:00 Shanghai is before the 10:30-11:00 window: sent at 10:30 plus the spread (<5 min).
    for r in by_step["early"]:
        assert r["state"] == "submitted", r
        assert "2030-01-10T02:30:00" <= r["sent"] < "2030-01-10T02:35:00", r
    # 22:00 is after the window and the next opening is tomorrow, past the end-of-day validity.
    for r in by_step["late"]:
        assert r["state"] == "expired", r
        assert r["reason"].startswith("outside window 10:30-11:00 (recipient local 22:00"), r
    # 23:30 is in quiet hours (marketing): it would wait until 08:00 the next day, so it expires.
    for r in by_step["night"]:
        assert r["state"] == "expired", r
        assert r["reason"].startswith("quiet hours 21:00-08:00"), r
    texts = [x["text"] for x in read_records(record)]
    assert all(t.startswith("[Shop]early") for t in texts) and len(texts) == 3, texts


def main():
    run_test_from_argv(globals(), "pigeon-e2e-")


if __name__ == "__main__":
    main()
