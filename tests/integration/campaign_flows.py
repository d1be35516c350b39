#!/usr/bin/env python3
"""Campaign file checks and lifecycle through the real `pigeon` binary: `campaign validate`
reports every error (and its warnings) in one pass, unknown attribute names get a did-you-mean,
a re-apply suppresses the queued messages of removed steps, a cancel is final.
Run one: campaign_flows.py PIGEON_BINARY TEST_NAME. Reuses e2e.py's Env."""
import json
import os
import re
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402


def write(env, name, text):
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def import_members(env, n=5):
    """n contacts tagged member, with first_name and a last_active_at 10 days before 2030."""
    path = write(env, "members.csv", "phone,first_name,last_active_at,tags\n" + "".join(
        f"+86139{i:08d},U{i},2029-12-22T00:00:00Z,member\n" for i in range(n)))
    env.run("contacts", "import", path)


def lines_with(text, needle):
    return [line for line in text.splitlines() if needle in line]


def validate_reports_structure_where_template_and_sender_errors_in_one_run(env):
    env.write_config("http://127.0.0.1:9")
    import_members(env)
    path = write(env, "broken.yaml", """campaign: broken
sender: nosuch
category: marketing
audience:
  all_tags: [member]
  where: ["city in shanghai"]
steps:
  - id: first
    at: now
    smss: { text: "hi" }
  - id: second
    at: now
    sms: { text: "Hi {{first_name" }
""")
    p = env.run("campaign", "validate", path, check=False)
    assert p.returncode == 1, p
    err = p.stderr
    # Each with its place: the sender (line 2), the where entry (6), the unknown key (10, and the
    # step missing `sms` at 8), the template (13); one run, not four fix-and-rerun rounds.
    assert re.search(re.escape(path) + r":2:9: sender: 'nosuch' is not defined", err), err
    assert re.search(re.escape(path) + r":6:\d+: audience.where: `city in shanghai`: expected `\[`",
                     err), err
    assert re.search(re.escape(path) + r":10:5: .*smss", err), err
    assert re.search(re.escape(path) + r":13:\d+: step `second` variant A: ", err), err
    assert re.search(r"^5 errors$", err, re.M), err  # the unknown key counts twice
    # apply reports the same in one pass and stores nothing.
    p = env.run("campaign", "apply", path, check=False)
    assert p.returncode == 1 and "smss" in p.stderr and "nosuch" in p.stderr, p.stderr
    assert "city in shanghai" in p.stderr and "step `second`" in p.stderr, p.stderr
    assert json.loads(env.run("campaign", "list", "--json").stdout) == []


def a_misspelled_attribute_name_is_an_error_with_a_did_you_mean(env):
    env.write_config("http://127.0.0.1:9")
    import_members(env)
    path = write(env, "typo.yaml", """campaign: typo
sender: shop
audience:
  all_tags: [member]
  where: ["lastt_active_days < 30"]
steps:
  - id: hello
    at: now
    sms: { text: "Hi {{frist_name}}, we miss you {{nickname|friend}}" }
""")
    p = env.run("campaign", "validate", path, check=False)
    assert p.returncode == 1, p
    err = p.stderr
    assert "fits for all 0 recipients" not in p.stdout, p.stdout
    typo = lines_with(err, "lastt_active_days")
    assert typo and re.match(re.escape(path) + r":5:12: audience.where: ", typo[0]), err
    assert "did you mean last_active_days?" in typo[0], typo
    name = lines_with(err, "`frist_name`")
    assert name and re.match(re.escape(path) + r":9:\d+: step `hello` variant A: ", name[0]), err
    assert "did you mean first_name?" in name[0], name
    # A variable with a default is not a typo check: `nickname|friend` is fine.
    assert "nickname" not in err, err
    # The corrected file validates, with the audience counted.
    with open(path) as f:
        fixed = f.read().replace("lastt_", "last_").replace("frist_", "first_")
    with open(path, "w") as f:
        f.write(fixed)
    p = env.run("campaign", "validate", path)
    assert "fits for all 5 recipients" in p.stdout and p.stderr == "", p


def validate_warns_about_a_step_outside_its_window_and_an_empty_audience(env):
    env.write_config("http://127.0.0.1:9")
    path = write(env, "warn.yaml", """campaign: warn
sender: shop
anchor: 2030-01-10
audience: { all_tags: [nobody] }
steps:
  - id: early
    at: "0d 09:00"
    window: { between: "10:30-11:00" }
    sms: { text: "Hi {{first_name}}" }
  - id: inside
    at: "0d 10:30"
    window: { between: "10:30-11:00" }
    sms: { text: "Again" }
""")
    # No database yet: the names cannot be checked, and validate says so (a warning).
    p = env.run("campaign", "validate", path)
    assert re.search(re.escape(path) + r":1:1: warning: attribute names not checked: no contacts "
                     r"are stored yet.*`first_name`", p.stderr), p.stderr
    import_members(env)
    p = env.run("campaign", "validate", path)
    assert p.returncode == 0 and "is valid" in p.stdout, p
    window = lines_with(p.stderr, "outside its window")
    assert len(window) == 1, p.stderr
    assert window[0].startswith(path + ":7:9: warning: steps[0].at: '0d 09:00' is outside its "
                                "window (10:30-11:00"), window
    empty = lines_with(p.stderr, "audience is empty")
    assert len(empty) == 1 and empty[0].startswith(path + ":4:11: warning: "), p.stderr
    assert "none of the 5 stored contacts is in it" in empty[0], empty


def reapply_with_a_renamed_step_suppresses_the_old_steps_messages(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    import_members(env, 22)
    steps = """  - id: countdown-{}
    at: "2030-01-10 10:30"
    sms: {{ text: "Countdown {{{{first_name}}}}" }}
"""
    path = env.campaign("flash", steps.format("a"))
    env.run("campaign", "apply", path)
    env.campaign("flash", steps.format("b"))  # same file, the step renamed
    p = env.run("campaign", "apply", path)
    assert "applied flash version 2" in p.stdout, p.stdout
    assert ("22 queued messages of removed steps suppressed (step removed in version 2)"
            in p.stdout), p.stdout
    with sqlite3.connect(env.db) as con:
        old = con.execute("SELECT state, reason, count(*) FROM messages WHERE step = "
                          "'countdown-a' GROUP BY state, reason").fetchall()
    assert old == [("suppressed", "step removed in version 2", 22)], old
    env.run("serve", "--until-idle", "--clock", "sim:2030-01-10T00:00:00Z", timeout=300)
    texts = [r["text"] for r in e2e.read_records(record)]
    assert len(texts) == 22 and all("Countdown U" in t for t in texts), texts
    st, rc = env.status()
    assert "failed_messages" not in [a["name"] for a in st["alert_details"]], st
    assert rc == 0, st


def resume_after_cancel_is_refused_and_names_campaign_apply(env):
    env.write_config("http://127.0.0.1:9")
    import_members(env, 3)
    later = """  - id: later
    at: "2030-01-10 10:30"
    sms: { text: "Later {{first_name}}" }
"""
    path = env.campaign("promo", later)
    env.run("campaign", "apply", path)
    env.run("campaign", "cancel", "promo")
    for verb in ("resume", "pause"):
        p = env.run("campaign", verb, "promo", check=False)
        assert p.returncode != 0, p
        assert "cancel is final" in p.stderr and f"pigeon campaign apply {path}" in p.stderr, p
    listed = json.loads(env.run("campaign", "list", "--json").stdout)
    assert [c["state"] for c in listed] == ["cancelled"], listed
    # What the refusal says works: apply starts the campaign anew and queues its messages.
    p = env.run("campaign", "apply", path)
    assert "3 messages queued" in p.stdout and "started anew" in p.stdout, p.stdout
    listed = json.loads(env.run("campaign", "list", "--json").stdout)
    assert [c["state"] for c in listed] == ["active"], listed
    with sqlite3.connect(env.db) as con:
        states = con.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()
    assert states == [("scheduled", 3)], states


def main():
    e2e.run_test_from_argv(globals(), "pigeon-campaign-flows-")


if __name__ == "__main__":
    main()
