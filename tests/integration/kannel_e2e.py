#!/usr/bin/env python3
"""The real `pigeon serve` against a real Kannel (bearerbox + smsbox + fakesmsc) on loopback.

  kannel_e2e.py PIGEON_BINARY

pigeon's kannel provider submits to smsbox's sendsms; Kannel's dlr-url and the sms-service
get-url point at pigeon's webhooks listener. Asserted:
(1) each contact's MT reaches fakesmsc exactly once with the right text;
(2) Kannel's delivery reports come back through pigeon's webhook: the messages end `delivered`;
(3) an MO "1" typed into fakesmsc is recorded as keyword "1", tags the contact, and the
    keyword's `respond` text goes back out through Kannel to fakesmsc;
(4) an MO "STOP" from another contact opts them out (replies show `opt_out`, their later
    step is suppressed, the confirmation reaches fakesmsc).
Exits 77 (skipped) when Kannel is not installed (scripts/bootstrap.sh installs it)."""
import json
import os
import re
import signal
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import kannel_harness  # noqa: E402
from e2e import KEYWORD_STEPS, Env, wait_for  # noqa: E402

SKIP = 77
TOKEN = "kannel-hook-0123456789abcdef"
FROM = "10690000"
WAIT = 30


def write_config(env, hooks_port, sendsms_url, username):
    with open(env.config, "w") as f:
        f.write(f"""database: {env.db}
default_timezone: Asia/Shanghai
default_region: CN
listen: {{ webhooks: "127.0.0.1:{hooks_port}", admin: "127.0.0.1:0" }}
public_url: "http://127.0.0.1:{hooks_port}"
reconcile_grace: 1s
senders:
  shop:
    signature: "[Shop]"
    opt_out_hint: "Reply STOP to opt out"
    route: [kannel]
providers:
  kannel: {{ kind: kannel, url: "{sendsms_url}", username: {username},
            password: "${{KANNEL_PASSWORD}}", from: "{FROM}",
            webhook_token: "${{KANNEL_HOOK_TOKEN}}", allow_from: 127.0.0.1 }}
""")


def start_serve(env):
    """Starts `pigeon serve`; waits for its webhooks listener; keeps its log drained."""
    p = env.spawn("serve")
    log = []
    deadline = time.time() + WAIT
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line and p.poll() is not None:
            raise AssertionError("serve exited: " + p.stderr.read())
        log.append(line)
        if re.search(r"webhooks listening on 127\.0\.0\.1:\d+", line or ""):
            break
    else:
        raise AssertionError("serve did not report its webhooks listener:\n" + "".join(log))
    threading.Thread(target=lambda: [log.append(x) for x in p.stdout], daemon=True).start()
    threading.Thread(target=lambda: [log.append(x) for x in p.stderr], daemon=True).start()
    return p, log


def mts(harness):
    """The MTs fakesmsc received, as (to, text): lines "Got message N: <from to text words>"."""
    out = []
    for line in harness.fakesmsc_lines():
        m = re.search(r"Got message \d+: <(\S+) (\S+) text (.*)>\s*$", line)
        if m and m.group(1) == FROM:
            out.append((m.group(2), m.group(3)))
    return out


def run(env, harness, timings):
    t0 = time.time()
    csv, expected = env.contacts(3)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("promo", KEYWORD_STEPS))
    serve, log = start_serve(env)
    try:
        messages = lambda: json.loads(env.run("messages", "--json").stdout)
        replies = lambda: json.loads(env.run("replies", "--json").stdout)

        # (1) every MT reaches fakesmsc exactly once, with the right text.
        wait_for("three MTs at fakesmsc",
                 lambda: len({to for to, _ in mts(harness)} & set(expected)) == 3,
                 WAIT, lambda: f"fakesmsc got {mts(harness)}; messages {messages()}")
        timings["mt"] = time.time() - t0
        got = mts(harness)
        for phone, text in expected.items():
            hits = [t for to, t in got if to == phone]
            assert hits == [text], f"{phone}: expected [{text!r}] once, fakesmsc got {hits}"

        # (2) Kannel's DLRs reach pigeon's webhook: every hello message ends delivered.
        hello = lambda: [m for m in messages() if m["step"] == "hello"]
        wait_for("three delivered messages",
                 lambda: len(hello()) == 3 and all(m["state"] == "delivered" for m in hello()),
                 WAIT, lambda: f"messages {hello()}")
        timings["dlr"] = time.time() - t0
        first, second = sorted(expected)[0], sorted(expected)[1]

        # (3) an MO "1": recorded, tagged, answered through Kannel.
        harness.send_mo(first, FROM, "1")
        wait_for("the reply '1' in `pigeon replies`",
                 lambda: [r for r in replies() if r["keyword"] == "1" and r["phone"] == first],
                 WAIT, lambda: f"replies {replies()}")
        r1 = [r for r in replies() if r["keyword"] == "1"][0]
        assert r1["campaign"] == "promo", r1
        assert r1["action"] == "tag:wants-sample+respond", r1
        wait_for("the keyword response at fakesmsc",
                 lambda: [t for to, t in mts(harness) if to == first and "Sample reserved" in t],
                 WAIT, lambda: f"fakesmsc got {mts(harness)}")
        timings["mo"] = time.time() - t0
        responses = [t for to, t in mts(harness) if to == first and "Sample reserved" in t]
        assert len(responses) == 1, f"the keyword response went out {len(responses)} times"
        # No CLI verb lists a contact's tags: read them from the database, read-only.
        with sqlite3.connect(f"file:{env.db}?mode=ro", uri=True, timeout=10) as db:
            row = db.execute("SELECT tags FROM contacts WHERE phone = ?", (first,)).fetchone()
        assert row and "wants-sample" in json.loads(row[0]), f"{first} tags: {row}"

        # (4) an MO "STOP": the contact is opted out, their later step suppressed.
        harness.send_mo(second, FROM, "STOP")
        wait_for("the STOP in `pigeon replies`",
                 lambda: [r for r in replies()
                          if r["phone"] == second and r["action"] == "opt_out"],
                 WAIT, lambda: f"replies {replies()}")
        later = [m for m in messages() if m["recipient"] == second and m["step"] == "later"]
        assert later and later[0]["state"] == "suppressed", later
        wait_for("the opt-out confirmation at fakesmsc",
                 lambda: [t for to, t in mts(harness) if to == second and "unsubscribed" in t],
                 WAIT, lambda: f"fakesmsc got {mts(harness)}")
        timings["stop"] = time.time() - t0
    except BaseException:
        print("--- pigeon serve log\n" + "".join(log[-60:]))
        raise
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=WAIT)
            except Exception:
                serve.kill()
                serve.wait()
    assert serve.returncode == 0, f"serve exited {serve.returncode} on SIGTERM"


def main():
    e2e.PIGEON = sys.argv[1]
    ok, missing = kannel_harness.available()
    if not ok:
        print(f"SKIPPED: Kannel is not installed (missing {missing}); scripts/bootstrap.sh "
              "installs the kannel and kannel-extras packages")
        return SKIP
    hooks = kannel_harness.free_port()
    get_url = (f"http://127.0.0.1:{hooks}/webhooks/kannel/inbound?token={TOKEN}"
               "&from=%p&to=%P&text=%a&id=%I")
    timings = {}
    with tempfile.TemporaryDirectory(prefix="pigeon-kannel-e2e-") as tmp:
        harness = kannel_harness.KannelHarness(tmp, get_url)
        env = Env(tmp)
        # Secrets only via ${ENV}: the config names them, pigeon's environment holds them.
        os.environ["KANNEL_PASSWORD"] = harness.password
        os.environ["KANNEL_HOOK_TOKEN"] = TOKEN
        try:
            harness.start()
            write_config(env, hooks, harness.sendsms_url, harness.username)
            run(env, harness, timings)
        except BaseException:
            print(harness.logs())
            raise
        finally:
            env.close()
            harness.stop()
    print("ok: MTs, DLRs, a keyword MO and a STOP through real Kannel "
          + " ".join(f"{k}={v:.1f}s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
