#!/usr/bin/env python3
"""Input integrity (the real `pigeon` binary): what a contacts CSV, the integrator API or an old
binary's damage can put in the store, and that nothing stored can stop a later command. Run one
test: input_integrity.py PIGEON_BINARY TEST_NAME."""
import json
import os
import sqlite3
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import STEP_NOW, free_port, read_records, run_test_from_argv, wait_for  # noqa: E402

GREET = """  - id: hello
    at: now
    sms: { text: "Hi {{first_name}}" }
"""


def write_csv(env, name, data):
    path = os.path.join(env.tmp, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return path


def fixed_admin_port(env):
    """Gives the config's admin listener a free port of its own, returned."""
    admin = free_port()
    with open(env.config) as f:
        cfg = f.read().replace('admin: "127.0.0.1:0"', f'admin: "127.0.0.1:{admin}"')
    with open(env.config, "w") as f:
        f.write(cfg)
    return admin


def messages(env):
    return json.loads(env.run("messages", "--json").stdout)


def a_gbk_file_is_rejected_by_byte_offset_and_imports_with_encoding_gb18030(env):
    env.write_config("http://127.0.0.1:9")
    text = "phone,first_name,tags\n+8613900000001,Ann,member\n+8613900000002,王芳,member\n"
    path = write_csv(env, "gbk.csv", text.encode("gbk"))
    p = env.run("contacts", "import", path, check=False)
    assert p.returncode == 1, p
    # Line 3 starts at byte offset 48; "王" is its 16th byte.
    assert f"{path}:3: rejected: invalid UTF-8 at byte offset 63 (line 3)" in p.stderr, p.stderr
    assert "--encoding GB18030" in p.stderr, p.stderr
    assert "imported 1 contacts" in p.stdout and "1 rejected" in p.stdout, p.stdout
    # Nothing undecodable was stored: every command that reads contacts still works.
    campaign = env.campaign("greet", GREET)
    env.run("campaign", "validate", campaign)
    env.run("campaign", "plan", campaign)
    p = env.run("contacts", "import", "--encoding", "GB18030", path)
    assert "imported 2 contacts" in p.stdout and "0 rejected" in p.stdout, p.stdout
    preview = env.run("campaign", "preview", campaign, "--contact", "+8613900000002").stdout
    assert "Hi 王芳" in preview, preview
    bad = env.run("contacts", "import", "--encoding", "NO-SUCH", path, check=False)
    assert bad.returncode == 1 and "unknown encoding `NO-SUCH`" in bad.stderr, bad.stderr


def a_campaign_yaml_with_invalid_utf8_is_refused_with_its_place_and_byte_offset(env):
    env.write_config("http://127.0.0.1:9")
    path = env.campaign("gbk", "  - id: hello\n    at: now\n    sms: { text: \"Hi\" }\n")
    with open(path, "rb") as f:
        good = f.read()
    bad = good.replace(b'"Hi"', '"你好"'.encode("gbk"))
    with open(path, "wb") as f:
        f.write(bad)
    offset = bad.index(b'"\xc4') + 1
    p = env.run("campaign", "validate", path, check=False)
    assert p.returncode == 1, p
    assert f"{path}:8:19: invalid UTF-8 at byte offset {offset}; save the file as UTF-8" \
        in p.stderr, p.stderr


def nan_inf_and_infinity_cells_are_text_and_every_command_goes_on(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    path = write_csv(env, "c.csv", "phone,first_name,city,note,tags\n"
                                   "+8613900000001,Nan,inf,Infinity,member\n"
                                   "+8613900000002,Bo,nan,-inf,member\n")
    p = env.run("contacts", "import", path)
    assert "imported 2 contacts" in p.stdout and "0 rejected" in p.stdout, p.stdout
    big = write_csv(env, "big.csv", "phone,first_name,score,tags\n+8613900000003,Cy,1e999,member\n")
    p = env.run("contacts", "import", big, check=False)
    assert p.returncode == 1 and "score `1e999` is too large for a number" in p.stderr, p.stderr
    campaign = env.campaign("greet", GREET)
    env.run("campaign", "validate", campaign)
    env.run("campaign", "plan", campaign)
    env.run("campaign", "apply", campaign)
    env.run("serve", "--until-idle", timeout=120)
    texts = sorted(r["text"] for r in read_records(record) if r.get("status") in (200, 201))
    assert texts == ["[Shop]Hi Bo Reply STOP to opt out", "[Shop]Hi Nan Reply STOP to opt out"], texts


def a_contact_an_old_binary_poisoned_is_skipped_and_named_and_dispatch_goes_on(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    csv, _ = env.contacts(5)
    env.run("contacts", "import", csv)
    campaign = env.campaign("blast", STEP_NOW)
    # What an older pigeon stored for `nan` and for a GBK cell: not JSON at all.
    db = sqlite3.connect(env.db)
    db.execute("UPDATE contacts SET attributes = '{\"first_name\":NaN}' WHERE phone = ?",
               ("+8613900000001",))
    db.execute("UPDATE contacts SET tags = CAST(X'5B22CDF5225D' AS TEXT) WHERE phone = ?",
               ("+8613900000003",))
    db.commit()
    for verb in ("validate", "plan", "apply"):
        p = env.run("campaign", verb, campaign)
        for masked in ("+86*********01", "+86*********03"):
            assert f"skipped contact {masked}" in p.stderr, (verb, p.stderr)
        assert "import the contact again to repair it" in p.stderr, p.stderr
    assert len(messages(env)) == 3, messages(env)
    # Poisoned after its message was queued: that message fails with the reason; the rest go.
    db.execute("UPDATE contacts SET attributes = '{\"code\":Infinity}' WHERE phone = ?",
               ("+8613900000004",))
    db.commit()
    db.close()
    env.run("serve", "--until-idle", timeout=120)
    sent = sorted(r["to"] for r in read_records(record) if r.get("status") in (200, 201))
    assert sent == ["+8613900000000", "+8613900000002"], sent
    by_state = {}
    for m in messages(env):
        by_state.setdefault(m["state"], []).append(m)
    assert len(by_state.get("failed", [])) == 1, by_state
    reason = by_state["failed"][0]["reason"]
    assert reason.startswith("contact +86*********04 (id 5) cannot be read"), reason
    st, rc = env.status()
    assert rc == 1 and st["messages"]["failed"] == 1, st  # a warning, not a wedge
    # Importing the contact again repairs it.
    env.run("contacts", "import", csv)
    p = env.run("campaign", "plan", campaign)
    assert "skipped" not in p.stderr, p.stderr


def an_unclosed_quote_rejects_its_line_and_the_lines_after_it_are_rows(env):
    env.write_config("http://127.0.0.1:9")
    rows = [f"+86139{i:08d},U{i},city{i}\n" for i in range(52)]
    rows[10] = '+8613900000010,"U10,city10\n'  # the quote is never closed
    rows[40] = '+8613900000040,"U40 updated",city40\n'
    path = write_csv(env, "q.csv", "phone,first_name,city\n" + "".join(rows))
    p = env.run("contacts", "import", path, check=False)
    assert p.returncode == 1, p
    assert "imported 51 contacts" in p.stdout and "(52 rows, 1 rejected)" in p.stdout, p.stdout
    assert f"{path}:12: rejected: " in p.stderr and "only this line is rejected" in p.stderr, p.stderr
    preview = env.run("campaign", "preview", env.campaign("greet", GREET),
                      "--contact", "+8613900000040").stdout
    assert "Hi U40 updated" in preview, preview


def numbers_that_cannot_be_the_rows_recipient_are_rejected_with_the_reason(env):
    env.write_config("http://127.0.0.1:9")  # default_region: CN
    path = write_csv(env, "r.csv", "phone,first_name,tz,tags\n"
                                   "415-555-0102,Al,America/New_York,member\n"
                                   "07700 900125,Bea,,member\n"
                                   "139 0000 0003,Cy,Europe/London,member\n"
                                   "139 0000 0004,Di,Asia/Shanghai,member\n"
                                   "+8613900000005,Ed,America/New_York,member\n"
                                   "+1 415 555 0106,Flo,America/Los_Angeles,member\n")
    p = env.run("contacts", "import", path, check=False)
    assert p.returncode == 1, p
    assert "imported 3 contacts" in p.stdout and "3 rejected" in p.stdout, p.stdout
    err = p.stderr
    assert f"{path}:2: rejected: phone `415-555-0102`: a fixed-line number in CN as " \
           "+864155550102, which cannot receive SMS (written without a country code, so " \
           "default_region CN supplied +86" in err, err
    assert f"{path}:3: rejected: phone `07700 900125`: a fixed-line number in CN" in err, err
    assert f"{path}:4: rejected: phone `139 0000 0003`: tz Europe/London is not a time zone " \
           "of CN" in err, err


def the_integrator_api_refuses_numbers_json_cannot_hold_with_the_field_named(env):
    env.write_config("http://127.0.0.1:9")
    admin = fixed_admin_port(env)
    env.spawn("serve")

    def post(path, body):
        req = urllib.request.Request(f"http://127.0.0.1:{admin}{path}", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
        except OSError:
            return None, {}

    wait_for("the admin listener", lambda: post("/v1/contacts", "{")[0] == 400, 30)
    code, body = post("/v1/contacts", '{"phone":"+8613900000001","attributes":{"n":1e999}}')
    assert code == 400 and body["field"] == "attributes.n", (code, body)
    code, body = post("/v1/events", '{"name":"buy","phone":"+8613900000001",'
                                     '"properties":{"total":-1e999}}')
    assert code == 400 and body["field"] == "properties.total", (code, body)
    code, body = post("/v1/contacts", '{"phone":"+8613900000001","attributes":{"first_name":"Nan"}}')
    assert code == 200, (code, body)
    campaign = env.campaign("greet", GREET)
    p = env.run("campaign", "plan", campaign)
    assert "skipped" not in p.stderr, p.stderr


def a_claim_loop_that_keeps_failing_is_critical_in_status_and_healthz(env):
    port, record = env.simulator()
    env.write_config(f"http://127.0.0.1:{port}")
    admin = fixed_admin_port(env)
    csv, _ = env.contacts(4)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
    # A fault the claim cannot get past: a claim writes nothing (claims are held in memory)
    # except to suppress a message whose contact opted out since it was queued, and that write
    # is refused. The first contact opts out behind the engine's back.
    db = sqlite3.connect(env.db)
    db.execute("UPDATE contacts SET opted_out_at = 1 WHERE phone = '+8613900000000'")
    db.execute("CREATE TRIGGER refuse_lease BEFORE UPDATE OF state ON messages "
               "WHEN NEW.state = 'suppressed' BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
    db.commit()
    env.spawn("serve")

    def healthz():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None, ""

    def unhealthy():
        code, body = healthz()
        return code == 503 and body

    health = json.loads(wait_for("/healthz 503", unhealthy, 60))
    assert health["status"] == "critical" and "injected fault" in health["reason"], health

    def stalled():
        st, rc = env.status()
        return rc == 2 and any(a["name"] == "dispatch_stalled" for a in st["alert_details"]) and st

    st = wait_for("status to say dispatch stalled", stalled, 60)
    text = [a["text"] for a in st["alert_details"] if a["name"] == "dispatch_stalled"][0]
    assert text.startswith("claiming due messages has failed") and "injected fault" in text, text
    assert st["lanes"] and st["lanes"][0]["name"] == "carrier", st["lanes"]
    # The fault goes: the claim recovers, health too, and the messages go out.
    db.execute("DROP TRIGGER refuse_lease")
    db.commit()
    db.close()
    wait_for("/healthz 200", lambda: healthz()[0] == 200, 60)
    wait_for("three sends", lambda: len(read_records(record)) == 3, 60)


def main():
    run_test_from_argv(globals(), "pigeon-input-")


if __name__ == "__main__":
    main()
