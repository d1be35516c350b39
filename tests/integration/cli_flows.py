#!/usr/bin/env python3
"""CLI flows of the real `pigeon` binary that on-call and rehearsals depend on: a simulated-clock
run never texts customers nor feeds the live rates, reading verbs never create a database nor
need the carriers' secrets, config that silently does nothing is named, a port clash names the
listener. Run one: cli_flows.py PIGEON_BINARY TEST_NAME. Reuses e2e.py's Env."""
import datetime
import json
import os
import re
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import STEP_NOW, read_records  # noqa: E402

UNSET = "PIGEON_TEST_SECRET_NOBODY_SETS"


def run_env(env, *args, extra_env=None, without=(), db=None, timeout=120):
    """Runs pigeon with the env's config and `db` (default env.db) and a tailored environment."""
    environ = dict(os.environ, **(extra_env or {}))
    for name in without:
        environ.pop(name, None)
    cmd = [e2e.PIGEON, "--config", env.config, "--db", db or env.db, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=environ)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_config(env, providers, route, extra=""):
    with open(env.config, "w") as f:
        f.write(f"""database: {env.db}
default_timezone: Asia/Shanghai
default_region: CN
listen: {{ webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }}
{extra}senders:
  shop:
    signature: "[Shop]"
    opt_out_hint: "Reply STOP to opt out"
    route: [{route}]
providers:
{providers}""")


def ledger_rows(env):
    import sqlite3
    con = sqlite3.connect(env.db, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM send_ledger").fetchone()[0]
    finally:
        con.close()


def a_rehearsal_refuses_providers_that_are_not_simulators_on_loopback(env):
    port, record = env.simulator()
    # 0.0.0.0 is not a loopback address by the rule (127.0.0.0/8, ::1, localhost), yet a
    # connection to it stays on this machine: before the fix this test sent nothing off it.
    write_config(env, f"""  sandbox: {{ kind: simulator, url: "http://127.0.0.1:{port}",
             webhook_secret: "${{{e2e.SIM_SECRET_ENV}}}" }}
  tw: {{ kind: twilio, base_url: "http://0.0.0.0:{port}", account_sid: AC0123456789abcdef0123456789abcdef,
        auth_token: "${{PIGEON_TEST_TW_TOKEN}}", from: "+15550001111" }}
  gw: {{ kind: kannel, url: "http://0.0.0.0:{port}/cgi-bin/sendsms", username: u,
        password: p, from: "10690000" }}
""", "tw, gw, sandbox")
    secret = {"PIGEON_TEST_TW_TOKEN": "tok"}
    csv, _ = env.contacts(5)
    assert run_env(env, "contacts", "import", csv, extra_env=secret).returncode == 0
    assert run_env(env, "campaign", "apply", env.campaign("blast", STEP_NOW),
                   extra_env=secret).returncode == 0
    p = run_env(env, "serve", "--until-idle", "--clock", "sim:" + now_iso(), extra_env=secret)
    assert p.returncode != 0, p
    assert "rehearsal" in p.stderr and "tw" in p.stderr and "gw" in p.stderr, p.stderr
    assert "http://0.0.0.0:" in p.stderr, p.stderr
    assert "sandbox" not in p.stderr, p.stderr
    assert ledger_rows(env) == 0
    assert read_records(record) == []
    states = {m["state"] for m in json.loads(env.run("messages", "--json").stdout)}
    assert states == {"scheduled"}, states


def a_rehearsal_does_not_feed_the_live_rates_of_status(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    csv, _ = env.contacts(6)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    env.run("serve", "--until-idle", "--clock", "sim:" + now_iso(), timeout=120)
    assert len(read_records(record)) == 6
    st, _ = env.status()
    assert st["rates"]["last_minute"]["attempts"] == 0, st["rates"]
    assert st["rates"]["last_hour"]["attempts"] == 0, st["rates"]
    assert st["providers"] == [], st["providers"]
    # the campaign section still shows what the rehearsal did
    assert st["campaigns"][0]["steps"][0]["sent"] == 6, st["campaigns"]
    text = env.run("status", check=False).stdout
    assert re.search(r"last 1 min\s+0 sent", text), text
    # a run on the real clock does count
    env.run("campaign", "apply", env.campaign("again", STEP_NOW))
    env.run("serve", "--until-idle", timeout=120)
    st, _ = env.status()
    assert st["rates"]["last_minute"]["attempts"] == 6, st["rates"]


def reading_verbs_never_create_a_database(env):
    env.write_config("http://127.0.0.1:9")
    missing = os.path.join(env.tmp, "nonexistent", "dir", "x.db")
    for verb, code in [(["campaign", "list"], 2), (["campaign", "show", "blast"], 2),
                       (["campaign", "pause", "blast"], 2), (["messages"], 2), (["replies"], 2),
                       (["status"], 3), (["messages", "--json"], 2)]:
        p = run_env(env, *verb, db=missing)
        assert p.returncode == code, (verb, p)
        assert f"no database at {missing}" in p.stderr, (verb, p.stderr)
        assert "contacts import" in p.stderr and "campaign apply" in p.stderr, p.stderr
        assert p.stdout == "", (verb, p.stdout)
        assert not os.path.exists(os.path.join(env.tmp, "nonexistent")), verb


def contacts_import_and_campaign_apply_say_they_created_the_database(env):
    env.write_config("http://127.0.0.1:9")
    fresh = os.path.join(env.tmp, "new", "dir", "x.db")
    csv, _ = env.contacts(2)
    p = run_env(env, "contacts", "import", csv, db=fresh)
    assert p.returncode == 0, p
    assert f"created database {fresh}" in p.stderr, p.stderr
    assert os.path.exists(fresh)
    p = run_env(env, "contacts", "import", csv, db=fresh)
    assert "created database" not in p.stderr + p.stdout, p
    other = os.path.join(env.tmp, "other.db")
    p = run_env(env, "campaign", "apply", env.campaign("blast", STEP_NOW), db=other)
    assert p.returncode == 0 and f"created database {other}" in p.stderr, p
    p = run_env(env, "campaign", "list", db=other)
    assert p.returncode == 0 and "blast" in p.stdout, p


def reading_verbs_work_without_the_providers_secrets(env):
    write_config(env, f"""  tw: {{ kind: twilio, base_url: "http://127.0.0.1:9", account_sid: AC0123456789abcdef0123456789abcdef,
        auth_token: "${{{UNSET}}}", from: "+15550001111" }}
""", "tw")
    secret = {UNSET: "tok-must-not-show"}
    csv, _ = env.contacts(3)
    assert run_env(env, "contacts", "import", csv, extra_env=secret).returncode == 0
    assert run_env(env, "campaign", "apply", env.campaign("blast", STEP_NOW),
                   extra_env=secret).returncode == 0
    for verb in (["messages"], ["messages", "--json"], ["replies"], ["campaign", "list"],
                 ["campaign", "show", "blast"], ["campaign", "pause", "blast"],
                 ["campaign", "resume", "blast"]):
        p = run_env(env, *verb, without=[UNSET])
        assert p.returncode == 0, (verb, p)
        assert "tok-must-not-show" not in p.stdout + p.stderr
    p = run_env(env, "status", "--json", without=[UNSET])
    assert p.returncode in (0, 1), p
    assert json.loads(p.stdout)["campaigns"][0]["name"] == "blast"
    # the engine does need them
    p = run_env(env, "serve", "--until-idle", without=[UNSET])
    assert p.returncode != 0 and f"environment variable {UNSET} is not set" in p.stderr, p


KANNEL_NO_TOKEN = """  gw: { kind: kannel, url: "http://127.0.0.1:9/cgi-bin/sendsms", username: u, password: p,
        from: "10690000" }
"""


def a_kannel_provider_without_webhook_token_is_warned_about_at_start_and_in_status(env):
    write_config(env, KANNEL_NO_TOKEN, "gw", extra='public_url: "https://sms.example.com"\n')
    env.run("contacts", "import", env.contacts(1)[0])
    p = env.run("serve", "--until-idle", timeout=60)
    log = p.stdout + p.stderr
    assert re.search(r"warn.*provider gw.*webhook_token", log), log
    st, rc = env.status()
    assert rc == 1, st
    detail = [a for a in st["alert_details"] if a["name"] == "no_delivery_receipts"]
    assert detail and "gw" in detail[0]["text"] and "webhook_token" in detail[0]["text"], st
    text = env.run("status", check=False).stdout
    assert "WARNING no_delivery_receipts" in text and "webhook_token" in text, text
    # with a token (and a public_url) there is nothing to say
    write_config(env, KANNEL_NO_TOKEN.replace('from: "10690000"',
                                              'from: "10690000", webhook_token: 0123456789abcdef'),
                 "gw", extra='public_url: "https://sms.example.com"\n')
    st, rc = env.status()
    assert "no_delivery_receipts" not in [a["name"] for a in st["alert_details"]], st
    p = env.run("serve", "--until-idle", timeout=60)
    assert "webhook_token" not in p.stdout + p.stderr, p


def a_port_clash_names_the_listener_and_the_address(env):
    env.write_config("http://127.0.0.1:9")
    env.run("contacts", "import", env.contacts(1)[0])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        for listener, listen in [("webhooks", f'{{ webhooks: "127.0.0.1:{port}", admin: "127.0.0.1:0" }}'),
                                 ("admin", f'{{ webhooks: "127.0.0.1:0", admin: "127.0.0.1:{port}" }}')]:
            with open(env.config) as f:
                text = re.sub(r"listen: \{.*\}", "listen: " + listen, f.read())
            with open(env.config, "w") as f:
                f.write(text)
            p = env.run("serve", "--until-idle", check=False, timeout=60)
            assert p.returncode != 0, p
            assert f"{listener} listener" in p.stderr and f"127.0.0.1:{port}" in p.stderr, p.stderr
            assert "in use" in p.stderr, p.stderr
            assert "boost" not in p.stderr.lower() and ".hpp" not in p.stderr, p.stderr


def pigeon_version_prints_the_version(env):
    p = subprocess.run([e2e.PIGEON, "--version"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p
    assert re.match(r"pigeon \d+\.\d+\.\d+", p.stdout), p.stdout


def every_verb_that_prints_a_table_lists_json_in_its_help(env):
    for verb in (["status"], ["messages"], ["replies"], ["campaign", "list"],
                 ["campaign", "show"], ["campaign", "apply"], ["campaign", "preview"],
                 ["campaign", "plan"], ["contacts", "import"], ["segments"]):
        p = subprocess.run([e2e.PIGEON, *verb, "--help"], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0 and "--json" in p.stdout, (verb, p.stdout)


def messages_filters_by_phone_and_lists_valid_states_on_a_bad_state(env):
    env.write_config("http://127.0.0.1:9")
    csv, _ = env.contacts(4)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    p = env.run("messages", "--state", "bogus", check=False)
    assert p.returncode == 2, p
    for state in ("scheduled", "submitted", "delivered", "failed", "suppressed"):
        assert state in p.stderr, p.stderr
    rows = json.loads(env.run("messages", "--phone", "+8613900000002", "--json").stdout)
    assert [r["recipient"] for r in rows] == ["+8613900000002"], rows
    # the phone in any format the default region reads
    rows = json.loads(env.run("messages", "--phone", "139 0000 0003", "--json").stdout)
    assert [r["recipient"] for r in rows] == ["+8613900000003"], rows
    assert "--phone" in env.run("messages", "--help").stdout
    p = env.run("messages", "--phone", "not a phone", check=False)
    assert p.returncode == 2 and "not a phone" in p.stderr, p


def main():
    e2e.run_test_from_argv(globals(), "pigeon-cli-")


if __name__ == "__main__":
    main()
