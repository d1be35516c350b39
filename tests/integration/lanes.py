#!/usr/bin/env python3
"""Lane fault injection end to end: the real `pigeon serve` against two `pigeon simulate-carrier`
instances as two providers. Run one test: lanes.py PIGEON_BINARY TEST_NAME."""
import json
import os
import re
import time
from datetime import datetime

import e2e
from e2e import read_records, STEP_NOW


def simulator(env, name, *extra):
    record = os.path.join(env.tmp, name + ".jsonl")
    p = env.spawn("simulate-carrier", "--port", "0", "--record", record,
                  "--webhook-secret-env", e2e.SIM_SECRET_ENV, *extra, with_config=False)
    deadline = time.time() + 30
    while time.time() < deadline:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", p.stdout.readline() or "")
        if m:
            return int(m.group(1)), record
        if p.poll() is not None:
            break
    raise AssertionError("simulator did not start: " + p.stderr.read())


def write_config(env, primary, backup):
    with open(env.config, "w") as f:
        f.write(f"""database: {env.db}
default_timezone: Asia/Shanghai
default_region: CN
listen: {{ webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }}
senders:
  shop:
    signature: "[Shop]"
    opt_out_hint: "Reply STOP to opt out"
    route: [primary, backup]
providers:
  primary: {{ kind: simulator, url: "http://127.0.0.1:{primary}", concurrency: 8,
             webhook_secret: "${{{e2e.SIM_SECRET_ENV}}}" }}
  backup: {{ kind: simulator, url: "http://127.0.0.1:{backup}", concurrency: 8,
            webhook_secret: "${{{e2e.SIM_SECRET_ENV}}}" }}
""")


def accepted(record):
    return [r for r in read_records(record) if r.get("status") in (200, 201)]


def a_failing_provider_opens_its_circuit_and_the_route_fails_over_exactly_once(env):
    # The primary answers every submission with 503; the backup is healthy.
    p_port, p_record = simulator(env, "primary", "--fail-rate", "1", "--faults", "5xx")
    b_port, b_record = simulator(env, "backup")
    write_config(env, p_port, b_port)
    csv, expected = env.contacts(300)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    env.run("serve", "--until-idle", timeout=300)
    # Every recipient exactly one message at the carriers, with the right text.
    got = {}
    for r in accepted(b_record) + accepted(p_record):
        got.setdefault(r["to"], []).append(r["text"])
    assert set(got) == set(expected), f"{len(set(expected) - set(got))} recipients missing"
    assert all(len(v) == 1 and v[0] == expected[k] for k, v in got.items())
    # The breaker stopped traffic to the primary after about 20 faults (+ those in flight), far
    # fewer than one per message.
    to_primary = len(read_records(p_record))
    assert 20 <= to_primary <= 20 + 8, to_primary
    # The ledger traces every attempt: attempts in the store = requests at both carriers.
    rows = json.loads(env.run("messages", "--json").stdout)
    assert all(r["state"] == "submitted" and r["provider"] == "backup" for r in rows), rows[0]
    attempts = sum(r["attempts"] for r in rows)
    assert attempts == to_primary + len(read_records(b_record)), attempts
    print(f"{to_primary} requests to the failing primary, 300 delivered by the backup")


def a_throttled_provider_slows_down_and_still_delivers_everything(env):
    # A third of the primary's answers are 429 with Retry-After 1 s; no backup needed.
    p_port, p_record = simulator(env, "primary", "--fail-rate", "0.3", "--faults", "429",
                                 "--retry-after", "1", "--seed", "3")
    b_port, b_record = simulator(env, "backup", "--fail-rate", "1", "--faults", "5xx")
    write_config(env, p_port, b_port)
    csv, expected = env.contacts(60)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    env.run("serve", "--until-idle", timeout=300)
    got = {}
    for r in accepted(p_record) + accepted(b_record):
        got.setdefault(r["to"], []).append(r["text"])
    assert set(got) == set(expected) and all(len(v) == 1 for v in got.values())
    records = read_records(p_record)
    throttled = [r for r in records if r["fault"] == "429"]
    assert throttled, "the seed gave no 429"
    # The whole lane paused for the Retry-After: after a 429, nothing new arrived at the primary
    # for the rest of that second (requests already in flight arrive within a few ms).
    at = [datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp() for r in records]
    for r, t in zip(records, at):
        if r["fault"] == "429":
            early = [x for x in at if t + 0.2 < x < t + 0.9]
            assert not early, f"{len(early)} requests inside the Retry-After of a 429"
    rows = json.loads(env.run("messages", "--json").stdout)
    assert sum(r["attempts"] for r in rows) == len(read_records(p_record)) + len(
        read_records(b_record))
    print(f"{len(throttled)} throttled answers, every message delivered once")


def main():
    e2e.run_test_from_argv(globals(), "pigeon-lanes-")


if __name__ == "__main__":
    main()
