#!/usr/bin/env python3
"""`pigeon contacts list/show/export/opt-out/delete` through the real binary: filters by tag and
segment expression, a person's messages and replies after a simulated campaign, an export that
round-trips through import byte for byte, an opt-out that suppresses queued messages, and an
erasure that leaves no trace of the phone in the database file while the counts stay.
Run one test: contacts_verbs.py PIGEON_BINARY TEST_NAME."""
import datetime
import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from webhooks_e2e import SIGN, TOKEN, post, start_serve  # noqa: E402

# Attributes of every kind the CSV carries: integers, decimals, booleans, text (a marked text
# that looks like a number), *_at times, commas, quotes, a line break, CJK, absent values.
CONTACTS_CSV = """phone,tags,tz,first_name,spend,ratio,vip_flag,zip,last_purchase_at,note,"a ""b"":{c}"
+8613900000001,member;vip,Asia/Shanghai,Wei,250,2.50,true,'00123,2026-11-20,"says ""hi"", twice",x
13900000002,member,,Li,80,1e300,false,'true,2026-10-01T08:30:00+08:00,"two
lines",
+8613900000003,vip,,王芳,120,-0.0,true,' padded ,2026-11-25,,
+14155550104,member,America/New_York,Ann,,,,',,'quoted,
+14155550105,,,Bob,5,0.1,false,zip9,2016-01-01,plain,
"""


def now_iso(offset_s=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset_s)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_config(env, url="http://127.0.0.1:9"):
    """e2e's config with another default_timezone (to tell it from a zone the number implies)
    and the simulator's signing secret (for MOs posted to the webhook)."""
    env.write_config(url)
    with open(env.config) as f:
        text = f.read()
    text = text.replace("default_timezone: Asia/Shanghai", "default_timezone: Europe/Berlin")
    # The simulator provider signs with ${PIGEON_SIM_SECRET} (e2e.py): TOKEN, as the MOs posted
    # here are signed with it.
    os.environ[e2e.SIM_SECRET_ENV] = TOKEN
    text = text.replace("senders:", 'policy: { tiers: { big: "spend >= 100" } }\nsenders:')
    assert "Europe/Berlin" in text and e2e.SIM_SECRET_ENV in text, text
    with open(env.config, "w") as f:
        f.write(text)


def import_contacts(env, text=CONTACTS_CSV, name="contacts.csv"):
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    env.run("contacts", "import", path)
    return path


def listed(env, *args):
    return sorted(c["phone"] for c in json.loads(env.run("contacts", "list", *args, "--json").stdout))


def campaign(env, name, steps):
    path = os.path.join(env.tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"campaign: {name}\nsender: shop\ncategory: marketing\n"
                f"audience: {{ any_tags: [member, vip] }}\nsteps:\n{steps}"
                "replies:\n  valid_for: 7d\n  keywords:\n    \"1\": { tag: wants-sample }\n")
    return path


HELLO_NOW = """  - id: hello
    at: now
    sms: { text: "Hi {{first_name}}, 20% off today" }
"""
LATER = """  - id: later
    at: "2099-01-01 10:00"
    sms: { text: "Later, {{first_name}}" }
"""


def simulated_campaign_with_replies(env, filler=0):
    """A campaign run on the simulated clock to its end, then an MO "1" and a STOP from
    +8613900000001 and an event for it through a real `serve`'s listeners. `filler` more
    contacts (outside the audience) fill the database's pages, as in real use: a row deleted
    from a full page leaves its bytes there unless they are overwritten."""
    port, _ = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    import_contacts(env)
    if filler:
        import_contacts(env, "phone,first_name\n" + "".join(
            f"+86137{i:08d},F{i}\n" for i in range(filler)), "filler.csv")
    env.run("campaign", "apply", campaign(env, "promo", HELLO_NOW))
    env.run("serve", "--until-idle", "--clock", "sim:" + now_iso())
    serve, hooks, admin = start_serve(env)
    try:
        for ident, text in (("mo-1", "1"), ("mo-2", "STOP")):
            code, body = post(hooks, "/webhooks/carrier/inbound",
                              {"from": "+8613900000001", "to": "shop", "text": text, "id": ident},
                              SIGN)
            assert code == 200, (code, body)
        code, body = post(admin, "/v1/events", {"name": "purchase", "phone": "+8613900000001",
                                                "properties": {"phone": "+8613900000001"}})
        assert code in (200, 201, 202), (code, body)
        e2e.wait_for("both replies stored", lambda: len(json.loads(
            env.run("replies", "--json").stdout)) == 2)
    finally:
        serve.terminate()
        serve.wait(timeout=60)
    env.run("serve", "--until-idle")  # whatever the replies queued (a STOP's confirmation)


def list_filters_by_tag_and_where(env):
    write_config(env)
    import_contacts(env)
    assert listed(env, "--tag", "vip") == ["+8613900000001", "+8613900000003"]
    assert listed(env, "--where", "spend >= 100") == ["+8613900000001", "+8613900000003"]
    assert listed(env, "--where", "tier = big") == ["+8613900000001", "+8613900000003"]
    assert listed(env, "--tag", "member", "--where", "spend >= 100 or zip = '00123'") == [
        "+8613900000001"]
    # Derived *_days from *_at, against today's date: only the far past is over 3000 days.
    assert listed(env, "--where", "last_purchase_days > 3000") == ["+14155550105"]
    assert listed(env, "--where", "not ratio exists") == ["+14155550104"]
    text = env.run("contacts", "list", "--tag", "vip").stdout
    assert "+8613900000003" in text and "2 contacts" in text, text
    csv = env.run("contacts", "list", "--tag", "vip", "--csv").stdout.splitlines()
    assert csv[0].startswith("phone,tags,tz,") and len(csv) == 3, csv
    bad = env.run("contacts", "list", "--where", "spend >= 100 and zip ~ 1", check=False)
    assert bad.returncode == 2, bad
    assert "--where:22: unexpected character `~`" in bad.stderr and "^" in bad.stderr, bad.stderr
    typo = env.run("contacts", "list", "--where", "spned > 1", "--json")
    assert "--where:1: no contact has an attribute `spned`" in typo.stderr, typo.stderr
    assert json.loads(typo.stdout) == []


def show_prints_messages_replies_zone_and_opt_out_after_a_simulated_campaign(env):
    simulated_campaign_with_replies(env)
    shown = json.loads(env.run("contacts", "show", "139 0000 0001", "--json").stdout)
    assert shown["phone"] == "+8613900000001" and shown["tags"][:2] == ["member", "vip"], shown
    assert "wants-sample" in shown["tags"], shown["tags"]
    assert shown["zone"] == {"name": "Asia/Shanghai", "source": "contact"}, shown["zone"]
    assert shown["attributes"]["zip"] == "00123" and shown["attributes"]["spend"] == 250
    assert shown["opted_out"]["source"].startswith("reply"), shown["opted_out"]
    [m] = [m for m in shown["messages"] if m["step"] == "hello"]
    assert m["campaign"] == "promo" and m["state"] in ("submitted", "delivered"), m
    assert m["text"].startswith("[Shop]Hi Wei, 20% off today"), m
    assert [r["text"] for r in shown["replies"]] == ["1", "STOP"], shown["replies"]
    assert shown["replies"][0]["keyword"] == "1", shown["replies"]
    zones = {p: json.loads(env.run("contacts", "show", p, "--json").stdout)["zone"]
             for p in ("+8613900000003", "+14155550105")}
    assert zones["+8613900000003"] == {"name": "Asia/Shanghai", "source": "phone"}, zones
    assert zones["+14155550105"] == {"name": "Europe/Berlin", "source": "default_timezone"}
    text = env.run("contacts", "show", "+8613900000001").stdout
    for fragment in ("Asia/Shanghai (the contact's tz)", "opted out", "Hi Wei, 20% off today",
                     "STOP", "promo/hello", "zip"):
        assert fragment in text, (fragment, text)


def export_round_trips_through_import_byte_for_byte(env):
    write_config(env)
    import_contacts(env)
    first = os.path.join(env.tmp, "first.csv")
    out = env.run("contacts", "export", first)
    assert "exported 5 contacts" in out.stdout, out.stdout
    fresh = e2e.Env(os.path.join(env.tmp, "fresh"))
    os.makedirs(fresh.tmp)
    fresh.config = env.config
    fresh.run("contacts", "import", first)
    second = os.path.join(env.tmp, "second.csv")
    fresh.run("contacts", "export", second)
    with open(first, "rb") as a, open(second, "rb") as b:
        assert a.read() == b.read(), open(second).read()

    def rows(db):
        with sqlite3.connect(db) as c:
            return {p: (json.loads(t), json.loads(a), tz) for p, t, a, tz in
                    c.execute("SELECT phone, tags, attributes, tz FROM contacts")}
    original, copy = rows(env.db), rows(fresh.db)
    assert original == copy, (original, copy)
    for phone, (_, attrs, _) in original.items():  # types, not only values, are the same
        for k, v in attrs.items():
            assert type(copy[phone][1][k]) is type(v), (phone, k, v, copy[phone][1][k])
    attrs = original["+8613900000001"][1]
    assert attrs["zip"] == "00123" and attrs["spend"] == 250 and attrs["ratio"] == 2.5
    assert attrs['a "b":{c}'] == "x"  # a name with a quote: escaped in the stored JSON
    assert original["+8613900000002"][1]["zip"] == "true"
    assert original["+8613900000003"][1]["zip"] == " padded "
    assert original["+14155550104"][1] == {"first_name": "Ann", "zip": "", "note": "'quoted"}

    # An unwritable destination: a clear error, nothing written, the old file intact.
    blocked = os.path.join(env.tmp, "no-such-dir", "out.csv")
    p = env.run("contacts", "export", blocked, check=False)
    assert p.returncode == 2 and "cannot write " + blocked in p.stderr, p
    os.chmod(env.tmp, 0o555)
    try:
        p = env.run("contacts", "export", first, check=False)
    finally:
        os.chmod(env.tmp, 0o755)
    if os.geteuid() != 0:
        assert p.returncode == 2 and "cannot write" in p.stderr, p
    with open(first, "rb") as a, open(second, "rb") as b:
        assert a.read() == b.read()
    assert not [f for f in os.listdir(env.tmp) if ".partial-" in f], os.listdir(env.tmp)

    # A contact an older pigeon stored undecodable: left out, named, and the exit code says so.
    with sqlite3.connect(env.db) as c:
        c.execute("INSERT INTO contacts (phone, tags, attributes, tz, created_at, updated_at) "
                  "VALUES ('+8613955555555', '[]', '{\"x\":NaN}', '', 0, 0)")
    p = env.run("contacts", "export", first, check=False)
    assert p.returncode == 1, p
    assert "1 contacts could not be read and are not in the file" in p.stderr, p.stderr
    assert "+86*********55" in p.stderr and "exported 5 contacts" in p.stdout, p


def export_and_list_read_beside_a_writer_holding_the_lock(env):
    """A running engine holds the write lock in bursts; an export of a million contacts takes
    seconds. The reading verbs take no write lock, so neither waits for the other."""
    write_config(env)
    import_contacts(env)
    writer = sqlite3.connect(env.db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE contacts SET tz = 'Asia/Tokyo' WHERE phone = '+14155550105'")
    try:
        t0 = time.time()
        out = env.run("contacts", "export", os.path.join(env.tmp, "during.csv"), timeout=30)
        assert "exported 5 contacts" in out.stdout, out.stdout
        assert listed(env, "--tag", "vip") == ["+8613900000001", "+8613900000003"]
        env.run("contacts", "show", "+14155550105")
        assert time.time() - t0 < 4, "a reading verb waited for the write lock"
    finally:
        writer.execute("COMMIT")
        writer.close()
    with open(os.path.join(env.tmp, "during.csv")) as f:
        assert "Asia/Tokyo" not in f.read()  # the snapshot before the writer's commit


def export_shows_a_progress_bar_on_a_terminal(env):
    write_config(env)
    import_contacts(env, "phone,n\n" + "".join(f"+86139{i:08d},{i}\n" for i in range(20000)),
                    "many.csv")
    out = os.path.join(env.tmp, "out.csv")
    master, slave = pty.openpty()
    p = subprocess.Popen([e2e.PIGEON, "--config", env.config, "--db", env.db, "contacts",
                          "export", out], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave)
    os.close(slave)
    seen = b""
    deadline = time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif p.poll() is not None:
            break
    p.wait(timeout=60)
    os.close(master)
    assert p.returncode == 0
    assert b"exported [########################] 20000/20000" in seen, seen


def opt_out_suppresses_queued_messages_as_a_stop_would(env):
    write_config(env)
    import_contacts(env)
    env.run("campaign", "apply", campaign(env, "later", LATER))
    out = env.run("contacts", "opt-out", "13900000002")  # national format, default_region CN
    assert "opted out +8613900000002: 1 queued messages suppressed" in out.stdout, out.stdout
    by_phone = {m["recipient"]: m for m in json.loads(env.run("messages", "--json").stdout)}
    assert by_phone["+8613900000002"]["state"] == "suppressed"
    assert by_phone["+8613900000002"]["reason"] == "opted out"
    assert by_phone["+8613900000001"]["state"] == "scheduled", by_phone
    shown = json.loads(env.run("contacts", "show", "+8613900000002", "--json").stdout)
    assert shown["opted_out"]["source"] == "manual", shown
    again = env.run("contacts", "opt-out", "+8613900000002", "--json")
    assert json.loads(again.stdout)["already"] is True


def database_bytes(env):
    data = b""
    for path in (env.db, env.db + "-wal"):
        if os.path.exists(path):
            with open(path, "rb") as f:
                data += f.read()
    return data


def ledger_counts(env):
    with sqlite3.connect(env.db) as c:
        return sorted(c.execute("SELECT campaign, outcome, count(*) FROM send_ledger GROUP BY 1, 2"))


def delete_leaves_no_trace_of_the_phone_and_keeps_the_counts(env):
    simulated_campaign_with_replies(env, filler=3000)
    phone, digits = b"+8613900000001", b"8613900000001"
    assert phone in database_bytes(env)
    before, _ = env.status()
    ledger = ledger_counts(env)
    out = env.run("contacts", "delete", "+8613900000001", "--yes")
    assert "erased +8613900000001" in out.stdout and "2 replies" in out.stdout, out.stdout
    data = database_bytes(env)
    assert phone not in data and digits not in data, "the phone is still in the database file"
    with sqlite3.connect(env.db) as c:
        c.execute("VACUUM")
    data = database_bytes(env)
    assert phone not in data and digits not in data, "the phone is in the file after VACUUM"
    after, _ = env.status()
    assert after["messages"] == before["messages"], (before["messages"], after["messages"])
    assert ledger_counts(env) == ledger
    assert after["contacts"] == before["contacts"] - 1, (before["contacts"], after["contacts"])
    erased = [m for m in json.loads(env.run("messages", "--json").stdout)
              if m["recipient"].startswith("erased:")]
    assert erased and all(m["text"] == "" and m["campaign"] == "promo" for m in erased), erased
    assert "hello" in [m["step"] for m in erased], erased
    assert f"{erased[0]['recipient']} " in env.run("messages").stdout  # not masked: no number
    assert json.loads(env.run("replies", "--json").stdout) == []
    gone = env.run("contacts", "show", "+8613900000001", check=False)
    assert gone.returncode == 2 and "no contact has phone +8613900000001" in gone.stderr, gone
    assert "+8613900000001" not in env.run("contacts", "list").stdout
    # The number may come back as a new person: nothing of the erased one is theirs.
    import_contacts(env, "phone,first_name\n+8613900000001,New\n", "back.csv")
    back = json.loads(env.run("contacts", "show", "+8613900000001", "--json").stdout)
    assert back["messages"] == [] and back["replies"] == [] and back["opted_out"] is None, back


def delete_refuses_a_message_mid_send_and_asks_on_a_terminal(env):
    write_config(env)
    import_contacts(env)
    env.run("campaign", "apply", campaign(env, "later", LATER))
    with sqlite3.connect(env.db) as c:  # what a crash between submit and answer leaves
        c.execute("UPDATE messages SET state = 'submitting', attempts = 1 WHERE contact_id = "
                  "(SELECT id FROM contacts WHERE phone = '+8613900000003')")
    p = env.run("contacts", "delete", "+8613900000003", "--yes", check=False)
    assert p.returncode == 1, p
    assert "was not erased" in p.stderr and "submitting" in p.stderr and "later/later" in p.stderr
    assert env.run("contacts", "show", "+8613900000003").returncode == 0
    # On a terminal without --yes it asks; anything but yes erases nothing.
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(e2e.PIGEON, [e2e.PIGEON, "--config", env.config, "--db", env.db, "contacts",
                              "delete", "+8613900000001"])
    seen = b""
    while b"Type yes" not in seen:
        seen += os.read(fd, 1024)
    os.write(fd, b"no\n")
    try:
        while True:
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1 and b"nothing erased" in seen, seen
    assert json.loads(env.run("contacts", "show", "+8613900000001", "--json").stdout)["attributes"]


def bad_phones_and_missing_databases_are_clear_errors(env):
    write_config(env)
    for verb in ("show", "opt-out", "delete"):
        p = env.run("contacts", verb, "+8613900000001", check=False)
        assert p.returncode == 2 and "no database at" in p.stderr, (verb, p.stderr)
    for args in (("list",), ("export", os.path.join(env.tmp, "x.csv"))):
        p = env.run("contacts", *args, check=False)
        assert p.returncode == 2 and "no database at" in p.stderr, (args, p.stderr)
        assert p.stdout == "", (args, p.stdout)
    assert not os.path.exists(env.db), "a reading verb created the database"
    import_contacts(env)
    for verb in ("show", "opt-out", "delete"):
        p = env.run("contacts", verb, "not-a-phone", "--yes" if verb == "delete" else "--json",
                    check=False)
        assert p.returncode == 2 and "phone `not-a-phone`" in p.stderr, (verb, p.stderr)
        p = env.run("contacts", verb, "+8613912345678", check=False)
        assert p.returncode == 2 and "no contact has phone +8613912345678" in p.stderr, p.stderr


def main():
    e2e.run_test_from_argv(globals(), "pigeon-contacts-")


if __name__ == "__main__":
    main()
