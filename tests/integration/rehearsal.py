#!/usr/bin/env python3
"""Rehearsals on the simulated clock: a dated campaign applied and played out as of a time of the
user's choosing, whatever today is (what scripts/demo.sh relies on). Run one test:
rehearsal.py PIGEON_BINARY TEST_NAME."""
import json

import e2e

STEPS = """  - id: reminder
    at: "-2d 10:00"
    sms: { text: "Hi {{first_name}}, two days left" }
  - id: last-call
    at: "0d 10:00"
    sms: { text: "Last day, {{first_name}}" }
"""


def a_dated_campaign_applies_and_plays_out_as_of_a_simulated_time(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    csv, _ = env.contacts(3)
    env.run("contacts", "import", csv)
    path = env.campaign("past", STEPS, anchor="2026-01-10")

    # As of the real today the anchor is past: apply refuses and names the place.
    refused = env.run("campaign", "apply", path, check=False)
    assert refused.returncode != 0, refused.stdout
    assert "already past" in refused.stderr and "past.yaml:" in refused.stderr, refused.stderr

    # As of 2026-01-01 both steps lie ahead: validate and apply accept it.
    start = "sim:2026-01-01T00:00:00Z"
    env.run("campaign", "validate", "--clock", start, path)
    applied = env.run("campaign", "apply", "--clock", start, path, "--json")
    assert json.loads(applied.stdout)["queued"] == 6, applied.stdout

    env.run("serve", "--until-idle", "--clock", start, timeout=120)
    msgs = json.loads(env.run("messages", "--json").stdout)
    assert len(msgs) == 6 and all(m["state"] == "submitted" for m in msgs), msgs
    # Sent at their own (simulated) times: 10:00 Shanghai on 8 and 10 January.
    sent = sorted({(m["step"], m["sent"][:13]) for m in msgs})
    assert sent == [("last-call", "2026-01-10T02"), ("reminder", "2026-01-08T02")], sent
    assert len(e2e.read_records(record)) == 6


def main():
    e2e.run_test_from_argv(globals(), "pigeon-rehearsal-")


if __name__ == "__main__":
    main()
