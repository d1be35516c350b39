#!/usr/bin/env python3
"""A/B tests decide on evidence, on the simulated clock through the real binary: decide_after
counts from the first send of the step with variants, no decision below min_per_variant (the
split goes on), `ab_test.sample` sends the variants to a share first and the winner to the
rest, and validate warns when the audience cannot reach min_per_variant.
Run one test: ab_flows.py PIGEON_BINARY TEST_NAME."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402  (Env, read_records)

DAY_MS = 86_400_000
ANCHOR_MS = 1_893_974_400_000  # 2030-01-07T00:00Z; steps at 10:00 Asia/Shanghai = 02:00Z
HELD = "ab sample: waiting for the decision"


def setup(env, n):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}", concurrency=64)
    path = os.path.join(env.tmp, "contacts.csv")
    with open(path, "w") as f:
        f.write("phone,first_name,tz,tags\n")
        f.writelines(f"+86139{i:08d},U{i},Asia/Shanghai,member\n" for i in range(n))
    env.run("contacts", "import", path)
    return record


def write(env, name, text):
    path = os.path.join(env.tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def campaign(name, steps, ab_test, window=""):
    return (f"campaign: {name}\nsender: shop\ncategory: marketing\nanchor: 2030-01-07\n"
            f"audience: {{ all_tags: [member] }}\n{window}steps:\n{steps}"
            f"replies:\n  keywords:\n    \"1\": {{ tag: wants-sample }}\nab_test: {ab_test}\n")


def ab_step(step_id, at):
    return (f"  - id: {step_id}\n    at: \"{at}\"\n    sms:\n      variants:\n"
            f"        A: {{ weight: 50, text: \"A {step_id} {{{{first_name}}}}, reply 1\" }}\n"
            f"        B: {{ weight: 50, text: \"B {step_id} {{{{first_name}}}}, reply 1\" }}\n")


def variants(env, step, where=""):
    with sqlite3.connect(env.db) as c:
        return dict(c.execute(
            "SELECT k.phone, m.variant FROM messages m JOIN contacts k ON k.id = m.contact_id "
            f"WHERE m.step = ? {where}", (step,)))


def reply(env, campaign_name, phones, at_ms):
    """Replies "1" (as the webhook server stores them; inserted directly)."""
    with sqlite3.connect(env.db) as c:
        ids = dict(c.execute("SELECT phone, id FROM contacts"))
        for phone in phones:
            c.execute("INSERT INTO replies (provider, phone, normalized, contact_id, campaign, "
                      "keyword, text, at) VALUES ('sim', ?, '1', ?, ?, '1', '1', ?)",
                      (phone, ids[phone], campaign_name, at_ms))


def b_wins(assigned):
    """Of these phone -> variant, the repliers: 40% of B's recipients, 5% of A's."""
    return [p for i, (p, v) in enumerate(sorted(assigned.items()))
            if (v == "B" and i % 5 < 2) or (v == "A" and i % 20 == 0)]


def ab_test_row(env, name):
    with sqlite3.connect(env.db) as c:
        c.row_factory = sqlite3.Row
        return dict(c.execute("SELECT * FROM ab_tests WHERE campaign = ?", (name,)).fetchone())


def decide_after_counts_from_the_first_send_of_the_step_with_variants(env):
    # A welcome without variants goes on day 0; the A/B offer a week later. decide_after (2d)
    # counts from the offer's first send: counted from the welcome, the test fired before any
    # variant was sent and ended without a winner.
    n = 400
    setup(env, n)
    steps = ("  - id: welcome\n    at: \"0d 10:00\"\n    sms: { text: \"welcome {{first_name}}\" }\n"
             + ab_step("offer", "+7d 10:00") + ab_step("last", "+11d 10:00"))
    path = write(env, "wk", campaign("wk", steps, '{ metric: "reply:1", decide_after: 2d }'))
    env.run("campaign", "apply", path)
    shown = env.run("campaign", "show", "wk").stdout
    assert "decides 2d after the first send of the A/B step at the earliest" in shown, shown
    assert "once each variant was sent to 100 (min_per_variant)" in shown, shown
    assert "decide_after the first send" not in shown, shown
    offer = variants(env, "offer")
    reply(env, "wk", b_wins(offer), ANCHOR_MS + 8 * DAY_MS)
    env.run("serve", "--until-idle", "--clock", "sim:2030-01-06T00:00:00Z", timeout=600)

    test = ab_test_row(env, "wk")
    with sqlite3.connect(env.db) as c:
        welcome_sent = c.execute("SELECT min(sent_at) FROM messages WHERE step = 'welcome'").fetchone()[0]
        offer_sent = c.execute("SELECT min(sent_at), max(sent_at) FROM messages "
                               "WHERE step = 'offer'").fetchone()
    assert welcome_sent < ANCHOR_MS + DAY_MS, welcome_sent
    assert test["first_send_at"] == offer_sent[0], (test, offer_sent)
    assert test["decided_at"] >= offer_sent[0] + 2 * DAY_MS, test
    assert test["winner"] == "B" and test["runner_up"] == "A", test
    assert set(variants(env, "last").values()) == {"B"}
    show = json.loads(env.run("campaign", "show", "wk", "--json").stdout)["ab_decision"]
    assert show["winner"] == "B" and show["p_value"] < 0.001, show
    assert show["first_send"] is not None and show["min_per_variant"] == 100, show


def an_ab_test_below_min_per_variant_does_not_decide_and_keeps_splitting(env):
    # 120 recipients: about 60 per variant, below the default min_per_variant (100). B is far
    # better, but the evidence is too thin: no decision, the next step keeps the split, and the
    # test is looked at again, not closed: with min_per_variant lowered it decides.
    n = 120
    setup(env, n)
    steps = ab_step("offer", "0d 10:00") + ab_step("again", "+3d 10:00")
    ab = '{ metric: "reply:1", decide_after: 1d }'
    env.run("campaign", "apply", write(env, "thin", campaign("thin", steps, ab)))
    offer = variants(env, "offer")
    reply(env, "thin", b_wins(offer), ANCHOR_MS + DAY_MS // 2)
    env.run("serve", "--until-idle", "--clock", "sim:2030-01-06T00:00:00Z", timeout=600)

    test = ab_test_row(env, "thin")
    assert test["decided_at"] is None and test["winner"] == "", test
    assert "min_per_variant 100" in test["reason"], test
    again = variants(env, "again", "AND m.state = 'submitted'")
    assert len(again) == n and again == offer, "the split goes on, each keeps their variant"
    shown = env.run("campaign", "show", "thin").stdout
    assert "ab_test decided" not in shown and "min_per_variant 100 sends" in shown, shown
    assert json.loads(env.run("campaign", "show", "thin", "--json").stdout)[
        "ab_decision"]["decided_at"] is None

    steps += ab_step("last", "+6d 10:00")
    ab = '{ metric: "reply:1", decide_after: 1d, min_per_variant: 40 }'
    env.run("campaign", "apply", write(env, "thin", campaign("thin", steps, ab)))
    env.run("serve", "--until-idle", "--clock", "sim:2030-01-11T00:00:00Z", timeout=600)
    test = ab_test_row(env, "thin")
    assert test["winner"] == "B", test
    assert set(variants(env, "last", "AND m.state = 'submitted'").values()) == {"B"}


def a_20_percent_sample_gets_the_variants_first_and_the_rest_the_winner_after_the_decision(env):
    n = 1000
    record = setup(env, n)
    ab = '{ metric: "reply:1", decide_after: 1d, min_per_variant: 50, sample: 20% }'
    window = "window: { between: \"10:00-20:00\" }\n"
    path = write(env, "smp", campaign("smp", ab_step("offer", "0d 10:00"), ab, window))
    applied = json.loads(env.run("campaign", "apply", path, "--json").stdout)
    with sqlite3.connect(env.db) as c:
        held = {p for (p,) in c.execute(
            "SELECT k.phone FROM messages m JOIN contacts k ON k.id = m.contact_id "
            "WHERE m.state = 'deferred' AND m.reason = ?", (HELD,))}
    assert applied["ab_held"] == len(held), applied
    assert 0.74 * n <= len(held) <= 0.86 * n, len(held)
    plan = json.loads(env.run("campaign", "plan", path, "--from", "2030-01-06T00:00:00Z",
                              "--json").stdout)
    assert plan["ab_held"] == len(held) and plan["ab_sample_percent"] == 20, plan
    assert "ab_test sample 20%: " + str(len(held)) + " messages" in env.run(
        "campaign", "plan", path, "--from", "2030-01-06T00:00:00Z").stdout
    shown = env.run("campaign", "show", "smp").stdout
    assert f"{len(held)} messages held for the decision (sample 20%)" in shown, shown
    sample = {p: v for p, v in variants(env, "offer").items() if p not in held}
    assert set(sample.values()) == {"A", "B"}
    reply(env, "smp", b_wins(sample), ANCHOR_MS + DAY_MS // 2)
    env.run("serve", "--until-idle", "--clock", "sim:2030-01-06T00:00:00Z", timeout=600)

    test = ab_test_row(env, "smp")
    assert test["winner"] == "B", test
    assert test["decided_at"] >= test["first_send_at"] + DAY_MS, test
    with sqlite3.connect(env.db) as c:
        rows = c.execute("SELECT k.phone, m.variant, m.state, m.sent_at FROM messages m "
                         "JOIN contacts k ON k.id = m.contact_id").fetchall()
    assert all(st == "submitted" for _, _, st, _ in rows), {r[2] for r in rows}
    for phone, variant, _, sent_at in rows:
        if phone in held:  # the rest: the winner, after the decision
            assert variant == "B" and sent_at >= test["decided_at"], (phone, variant, sent_at)
        else:  # the sample: their own variant, on the step's day
            assert variant == sample[phone] and sent_at < ANCHOR_MS + DAY_MS, (phone, sent_at)
    texts = [json.dumps(r, ensure_ascii=False) for r in e2e.read_records(record)]
    assert len(texts) == n
    assert sum("B offer" in t for t in texts) == n - sum(v == "A" for v in sample.values())
    show = json.loads(env.run("campaign", "show", "smp", "--json").stdout)["ab_decision"]
    assert show["held"] == 0 and show["sample_percent"] == 20 and show["winner"] == "B", show


def validate_warns_when_the_audience_cannot_reach_min_per_variant(env):
    setup(env, 150)
    ab = '{ metric: "reply:1", decide_after: 1d, sample: 20% }'
    path = write(env, "small", campaign("small", ab_step("offer", "0d 10:00"), ab))
    p = env.run("campaign", "validate", path)
    assert "is valid" in p.stdout, p.stdout
    # 150 recipients, 20% sample, half each: about 15 per variant, far from 100.
    line = next((ln for ln in p.stderr.splitlines() if "min_per_variant" in ln), "")
    assert line.startswith(path + ":"), p.stderr
    assert "warning: ab_test.min_per_variant: the audience cannot reach 100 sends per variant: " \
        "150 recipients (20% sample) give about 15 to variant A of step offer" in line, line
    # An audience that can: no warning.
    ab = '{ metric: "reply:1", decide_after: 1d, sample: 20%, min_per_variant: 10 }'
    path = write(env, "small", campaign("small", ab_step("offer", "0d 10:00"), ab))
    p = env.run("campaign", "validate", path)
    assert "min_per_variant" not in p.stderr, p.stderr
    # A bad sample is an error at its place.
    ab = '{ metric: "reply:1", decide_after: 1d, sample: 20 }'
    path = write(env, "small", campaign("small", ab_step("offer", "0d 10:00"), ab))
    p = env.run("campaign", "validate", path, check=False)
    assert p.returncode != 0 and "ab_test.sample: expected a share of the audience from 1% to " \
        "100%, like 20%, got '20'" in p.stderr, p.stderr


def main():
    e2e.run_test_from_argv(globals(), "pigeon-ab-")


if __name__ == "__main__":
    main()
