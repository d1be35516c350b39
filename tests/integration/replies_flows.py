#!/usr/bin/env python3
"""Replies end to end through a real `pigeon serve` and `pigeon simulate-carrier`: keyword
responses and STOP/START/HELP confirmations are transactional (never stopped by stop_on, never
capped), measured against the sender's limit when the config or campaign is loaded, Chinese by
default for a CJK signature; a follow_up step goes only to those who replied, `at` counted from
the reply. MOs are posted to pigeon's inbound webhook signed like the simulator signs them.
Run one test: replies_flows.py PIGEON_BINARY TEST_NAME."""
import datetime
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import read_records, wait_for  # noqa: E402
from webhooks_e2e import SIGN, TOKEN, post, start_serve  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config",
                        "examples")


def write_config(env, url, shop_extra="", coffee_extra="", policy=""):
    # The coffee sender as the demo config has it: a CJK signature, one segment.
    with open(env.config, "w") as f:
        f.write(f"""database: {env.db}
default_timezone: Asia/Shanghai
default_region: CN
listen: {{ webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }}
reconcile_grace: 1s
{policy}senders:
  coffee:
    signature: "【咖啡】"
    opt_out_hint: "回T退订"
    sms_max_segments: 1
    route: [carrier]{coffee_extra}
  shop:
    signature: "[Shop]"
    opt_out_hint: "Reply STOP to opt out"
    route: [carrier]{shop_extra}
providers:
  carrier: {{ kind: simulator, url: "{url}", webhook_secret: "{TOKEN}" }}
""")


def write_contacts(env, n):
    """n members the double12 example's audience takes (Shanghai, stored value, recent buyers)."""
    path = os.path.join(env.tmp, "contacts.csv")
    with open(path, "w") as f:
        f.write("phone,first_name,tags,city,last_purchase_at\n")
        for i in range(n):
            f.write(f"+86139{i:08d},U{i},member;stored-value,shanghai,2026-11-01\n")
    env.run("contacts", "import", path)
    return [f"+86139{i:08d}" for i in range(n)]


def in_seconds(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def double12_with_steps(env, steps_yaml):
    """The bundled config/examples/double12-coffee.yaml (its stop_on, audience and replies as
    shipped) with its dated steps swapped for `steps_yaml`, so it runs on today's clock."""
    with open(os.path.join(EXAMPLES, "double12-coffee.yaml")) as f:
        text = f.read()
    assert 'stop_on: [opt_out, "reply:1"]' in text and '"1": { tag: wants-sample, respond:' in text
    text = re.sub(r"(?m)^anchor:.*\n|^window:.*\n", "", text)
    text = re.sub(r"(?s)\nsteps:\n.*?\nreplies:", "\nsteps:\n" + steps_yaml + "replies:", text)
    path = os.path.join(env.tmp, "double12-coffee.yaml")
    with open(path, "w") as f:
        f.write(text)
    shutil.copytree(os.path.join(EXAMPLES, "assets"), os.path.join(env.tmp, "assets"))
    return path


def messages(env):
    return json.loads(env.run("messages", "--json").stdout)


def mo(hooks, phone, text, ident):
    body = {"from": phone, "to": "sender", "text": text, "id": ident}
    code, answer = post(hooks, "/webhooks/carrier/inbound", body, SIGN)
    assert code == 200, (code, answer)


def sent_to(record, phone, fragment):
    return [r for r in read_records(record) if r["to"] == phone and fragment in r["text"]]


def wait_submitted(env, step, count):
    return wait_for(f"{count} `{step}` messages submitted", lambda: (
        lambda ms: ms if len(ms) == count else None)(
            [m for m in messages(env) if m["step"] == step
             and m["state"] in ("submitted", "delivered")]),
        describe=lambda: json.dumps(messages(env), ensure_ascii=False))


def apply_and_serve(env, campaign, first_step, recipients):
    """Applies the campaign, starts serve, waits for its first step to reach every recipient;
    returns (serve process, webhooks port)."""
    env.run("campaign", "apply", campaign)
    serve, hooks, _ = start_serve(env)
    wait_submitted(env, first_step, recipients)
    return serve, hooks


def wait_answer(env, record, phone, what, fragment):
    return wait_for(what, lambda: sent_to(record, phone, fragment),
                    describe=lambda: json.dumps(replies_of(env, phone), ensure_ascii=False))


def replies_of(env, phone):
    return [m for m in messages(env) if m["recipient"] == phone and m["step"].startswith("reply:")]


def the_double12_example_answers_1_and_stops_only_its_later_steps(env):
    port, record = env.simulator()
    # Two marketing messages a week: a response must not use up the second one.
    write_config(env, f"http://127.0.0.1:{port}", policy="""policy:
  tiers: { everyone: "last_purchase_days >= 0" }
  frequency: [{ tier: everyone, max: 2, per: 7d }]
""")
    a, b, c = write_contacts(env, 3)
    campaign = double12_with_steps(env, f"""  - id: expiry-reminder
    at: now
    sms: {{ text: "{{{{first_name|会员}}}},您的券3天后到期,回1领取试用装" }}
  - id: flash-countdown
    at: "{in_seconds(30)}"
    sms: {{ text: "今晚8点闪购倒计时!" }}
""")
    serve, hooks = apply_and_serve(env, campaign, "expiry-reminder", 3)

    mo(hooks, a, "1", "MO-1")
    # The response goes out although the campaign stops on reply:1 (it asked for it).
    got = wait_answer(env, record, a, "the response to 1", "试用装已为您预留")
    assert got[0]["text"] == "【咖啡】试用装已为您预留,到店出示本短信领取", got
    assert all(m["state"] in ("submitted", "delivered") for m in replies_of(env, a))
    mo(hooks, b, "2", "MO-2")
    wait_answer(env, record, b, "the response to 2", "专家将在24小时内联系您")

    # The later step: stopped for the one who replied 1, sent to the others (the response to
    # 2 did not use up its recipient's second message of the week).
    wait_submitted(env, "flash-countdown", 2)
    later = {m["recipient"]: m for m in messages(env) if m["step"] == "flash-countdown"}
    assert later[a]["state"] == "suppressed" and later[a]["reason"] == "stop_on reply:1", later[a]
    assert {later[b]["state"], later[c]["state"]} <= {"submitted", "delivered"}, later
    assert not sent_to(record, a, "闪购")
    serve.terminate()
    serve.wait(timeout=30)


def a_cjk_signed_senders_stop_confirmation_is_chinese_and_one_segment(env):
    port, record = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    a, _ = write_contacts(env, 2)
    campaign = double12_with_steps(env, """  - id: expiry-reminder
    at: now
    sms: { text: "您的券3天后到期,回1领取试用装" }
""")
    serve, hooks = apply_and_serve(env, campaign, "expiry-reminder", 2)

    mo(hooks, a, "退订", "MO-STOP")
    got = wait_answer(env, record, a, "the opt-out confirmation", "您已退订")
    text = got[0]["text"]
    assert text.startswith("【咖啡】您已退订") and "START" in text, text
    assert len(text.encode("utf-16-le")) // 2 <= 70, f"{text!r} needs more than one UCS-2 segment"
    assert [m["state"] for m in replies_of(env, a)] in (["submitted"], ["delivered"])

    # START: the re-subscription confirmation, Chinese too.
    mo(hooks, a, "START", "MO-START")
    got = wait_for("the opt-in confirmation", lambda: sent_to(record, a, "恢复订阅"))
    assert len(got[0]["text"].encode("utf-16-le")) // 2 <= 70, got
    serve.terminate()
    serve.wait(timeout=30)


def a_frequency_reply_gets_its_confirmation_despite_the_cap_it_sets(env):
    port, record = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    a, _ = write_contacts(env, 2)
    campaign = os.path.join(env.tmp, "monthly.yaml")
    with open(campaign, "w") as f:
        f.write("""campaign: monthly
sender: coffee
audience: { all_tags: [member] }
steps:
  - id: hello
    at: now
    sms: { text: "回3:每月最多收一条" }
replies:
  keywords:
    "3": { action: frequency, max: 1, per: 30d, respond: "好的,每月最多给您发一条" }
""")
    serve, hooks = apply_and_serve(env, campaign, "hello", 2)

    mo(hooks, a, "3", "MO-3")
    wait_answer(env, record, a, "the frequency confirmation", "每月最多给您发一条")
    replies = json.loads(env.run("replies", "--json").stdout)
    assert [(r["keyword"], r["action"]) for r in replies] == [("3", "frequency+respond")], replies
    serve.terminate()
    serve.wait(timeout=30)


def an_overlong_reply_text_is_refused_at_load_with_its_place(env):
    url = "http://127.0.0.1:9"  # nothing is sent
    campaign = os.path.join(env.tmp, "promo.yaml")
    long_respond = ("试用装已为您预留,请在三天内到任意门店出示本短信领取,每位会员限领一份,数量有限先到先得,"
                    "详情请咨询门店店员或拨打客服热线四零零零零零零零零零")
    with open(campaign, "w") as f:
        f.write(f"""campaign: promo
sender: coffee
audience: {{ all_tags: [member] }}
steps:
  - id: hello
    at: now
    sms: {{ text: "回1领取试用装" }}
replies:
  keywords:
    "1": {{ respond: "{long_respond}" }}
""")
    # A keyword response over the sender's one segment: validate names the `respond:` value.
    write_config(env, url)
    p = env.run("campaign", "validate", campaign, check=False)
    assert p.returncode != 0, p.stdout
    m = re.search(re.escape(campaign) + r":10:(\d+): replies\.keywords\.1\.respond: needs 2 SMS "
                  r"segments \(UCS-2.*sender 'coffee' allows 1", p.stderr)
    assert m and int(m.group(1)) > 1, p.stderr
    p = env.run("campaign", "apply", campaign, check=False)
    assert p.returncode != 0 and "replies.keywords.1.respond" in p.stderr, p.stderr

    # A help text over its sender's limit: refused when the engine config is loaded.
    write_config(env, url, shop_extra="\n    help_text: \"" + "Shop help: " + "call us " * 20 + "\"")
    p = env.run("campaign", "validate", campaign, check=False)
    assert p.returncode != 0
    assert re.search(re.escape(env.config) + r":\d+:\d+: senders\.shop\.help_text: needs 2 SMS "
                     r"segments \(GSM-7", p.stderr), p.stderr

    # An opt-out confirmation written in a script the signature's default does not cover.
    write_config(env, url, coffee_extra="\n    opt_out_reply: \"You are unsubscribed from all "
                 "coffee messages. Reply START to get them again.\"")
    p = env.run("campaign", "validate", campaign, check=False)
    assert re.search(re.escape(env.config) + r":12:\d+: senders\.coffee\.opt_out_reply: needs 2 "
                     r"SMS segments \(UCS-2", p.stderr), p.stderr


def a_follow_up_step_goes_only_to_those_who_replied_counted_from_the_reply(env):
    port, record = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    a, b, c = write_contacts(env, 3)
    campaign = os.path.join(env.tmp, "vip.yaml")
    with open(campaign, "w") as f:
        f.write("""campaign: vip
sender: shop
stop_on: ["reply:4"]
audience: { all_tags: [member] }
steps:
  - id: hello
    at: now
    sms: { text: "Hi {{first_name}}, reply 2 for gift details or 4 for your code" }
  - id: gift-detail
    at: "+2h"
    sms: { text: "Gift details: a mug with any 3 coffees" }
  - id: gift-code
    at: "0d"
    sms: { text: "Your gift code is G-{{first_name}}" }
replies:
  keywords:
    "2": { action: follow_up, step: gift-detail }
    "4": { action: follow_up, step: gift-code }
""")
    p = env.run("campaign", "validate", campaign)
    assert "step gift-detail: follow-up only, queued for those who reply \"2\", `at: +2h` " \
           "counted from the reply" in p.stdout, p.stdout
    assert "step gift-code: follow-up only" in p.stdout and "step hello:" not in p.stdout
    env.run("campaign", "apply", campaign)
    assert sorted(m["step"] for m in messages(env)) == ["hello"] * 3, messages(env)

    serve, hooks, _ = start_serve(env)
    wait_submitted(env, "hello", 3)
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    mo(hooks, a, "2", "MO-2")
    after = datetime.datetime.now(datetime.timezone.utc)
    detail = [m for m in messages(env) if m["step"] == "gift-detail"]
    assert [m["recipient"] for m in detail] == [a], detail
    due = datetime.datetime.fromisoformat(detail[0]["due"].replace("Z", "+00:00"))
    two_hours = datetime.timedelta(hours=2)
    assert before + two_hours <= due <= after + two_hours, (before, due, after)
    assert detail[0]["state"] == "scheduled", detail

    # "0d": at the reply; and the reply that queued it does not stop it (stop_on reply:4).
    mo(hooks, b, "4", "MO-4")
    wait_for("the gift code", lambda: sent_to(record, b, "Your gift code is G-U1"),
             describe=lambda: json.dumps(messages(env)))
    code = [m for m in messages(env) if m["step"] == "gift-code"]
    assert [m["recipient"] for m in code] == [b], code
    assert not sent_to(record, c, "Gift details") and not sent_to(record, c, "Your gift code")
    assert not sent_to(record, a, "Gift details")  # due in two hours
    replies = json.loads(env.run("replies", "--json").stdout)
    assert [(r["keyword"], r["action"]) for r in replies] == [
        ("2", "follow_up:gift-detail"), ("4", "follow_up:gift-code")], replies
    serve.terminate()
    serve.wait(timeout=30)


def main():
    e2e.run_test_from_argv(globals(), "pigeon-replies-")


if __name__ == "__main__":
    main()
