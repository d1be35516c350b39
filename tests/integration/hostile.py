#!/usr/bin/env python3
"""Hostile input against a real `pigeon serve` on loopback: what a page in the operator's browser
or another local process could send (issue: nothing from outside can poison, forge or starve the
engine). Run one test: hostile.py PIGEON_BINARY TEST_NAME."""
import hashlib
import hmac
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import KEYWORD_STEPS, wait_for  # noqa: E402
from webhooks_e2e import TOKEN, messages, start_serve, write_config  # noqa: E402


def request(port, path, body=None, headers=None, method=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def signed(secret, body):
    data = json.dumps(body).encode()
    ts = str(int(time.time()))
    mac = hmac.new(secret.encode(), ts.encode() + b"." + data, hashlib.sha256).hexdigest()
    return data, {"Content-Type": "application/json", "X-Timestamp": ts, "X-Signature": mac}


def contacts_in(env):
    with sqlite3.connect(f"file:{env.db}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM contacts").fetchone()[0]


def the_admin_api_refuses_cross_site_writes_and_foreign_hosts(env):
    port, _ = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    serve, _, admin = start_serve(env)
    contact = [{"phone": "13900000099", "tags": ["member"]}]

    # A page on evil.example posting text/plain (no CORS preflight) through a rebound name.
    code, body = request(admin, "/v1/contacts", json.dumps(contact).encode(), {
        "Content-Type": "text/plain", "Origin": "http://evil.example", "Host": "evil.example"})
    assert code == 421 and "evil.example" in body, (code, body)
    # The same from a page on another origin, with our own Host.
    code, body = request(admin, "/v1/contacts", json.dumps(contact).encode(), {
        "Content-Type": "application/json", "Origin": "http://evil.example"})
    assert code == 403 and "cross-origin" in body, (code, body)
    # A form post from a local tool: not JSON, refused with the reason.
    code, body = request(admin, "/v1/events", b"name=purchase&phone=13900000099",
                         {"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 415 and "application/json" in body, (code, body)
    # Reads through a rebound name are refused too.
    code, _ = request(admin, "/status", headers={"Host": "evil.example"})
    assert code == 421, code
    # Nothing was stored by the refused requests...
    assert contacts_in(env) == 0
    # ...and the legitimate client still gets through.
    code, body = request(admin, "/v1/contacts", contact, {"Content-Type": "application/json"})
    assert code == 200 and json.loads(body)["upserted"] == 1, (code, body)
    assert contacts_in(env) == 1
    code, _ = request(admin, "/status", headers={"Host": f"localhost:{admin}",
                                                 "Origin": f"http://localhost:{admin}"})
    assert code == 200, code
    serve.terminate()
    serve.wait(timeout=30)


def a_receipt_on_one_providers_endpoint_never_changes_another_providers_message(env):
    port, _ = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    # A second provider with a secret of its own (another carrier, a test gateway), routed to by
    # a second sender.
    with open(env.config) as f:
        config = f.read()
    config = config.replace("providers:\n", '  alt: { signature: "[Alt]", route: [other] }\n'
                            "providers:\n")
    config += (f'  other: {{ kind: simulator, url: "http://127.0.0.1:{port}", '
               f'webhook_secret: "other-secret" }}\n')
    with open(env.config, "w") as f:
        f.write(config)
    csv, _ = env.contacts(1)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("promo", KEYWORD_STEPS))
    serve, hooks, _ = start_serve(env)
    sent = wait_for("the first message submitted", lambda: [
        m for m in messages(env) if m["step"] == "hello" and m["state"] == "submitted"])[0]

    # A correctly signed receipt on the other provider's endpoint naming our message's id.
    data, headers = signed("other-secret", {"ref": str(sent["id"]), "id": "SIM-999",
                                            "status": "undelivered"})
    code, body = request(hooks, "/webhooks/other/status", data, headers)
    assert code == 200, (code, body)
    after = {m["id"]: m for m in messages(env)}[sent["id"]]
    assert after["state"] == "submitted" and after["carrier_id"] == sent["carrier_id"], after
    # Its own provider's receipt still applies.
    data, headers = signed(TOKEN, {"ref": str(sent["id"]), "id": sent["carrier_id"],
                                   "status": "delivered"})
    assert request(hooks, "/webhooks/carrier/status", data, headers)[0] == 200
    assert {m["id"]: m for m in messages(env)}[sent["id"]]["state"] == "delivered"
    status, _ = env.status()
    assert status["status"] == "ok", status
    serve.terminate()
    serve.wait(timeout=30)


def start_serve_logging(env):
    """`pigeon serve` with its log in a file; returns (process, log path, webhooks, admin)."""
    log = os.path.join(env.tmp, "serve.log")
    out = open(log, "w")
    p = subprocess.Popen([e2e.PIGEON, "--config", env.config, "--db", env.db, "serve"],
                         stdout=out, stderr=subprocess.STDOUT, text=True)
    env.procs.append(p)
    def ports():
        with open(log) as f:
            found = dict(re.findall(r"(webhooks|admin) listening on 127\.0\.0\.1:(\d+)", f.read()))
        return found if len(found) == 2 else None
    found = wait_for("serve's listening ports in its log", ports, timeout=30)
    return p, log, int(found["webhooks"]), int(found["admin"])


def a_flood_of_forged_webhooks_is_counted_not_logged_line_by_line(env):
    port, _ = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    serve, log, hooks, admin = start_serve_logging(env)
    forged = {"Content-Type": "application/json", "X-Timestamp": str(int(time.time())),
              "X-Signature": "00" * 32}
    for i in range(300):
        code, _ = request(hooks, "/webhooks/carrier/status",
                          json.dumps({"ref": str(i), "id": f"SIM-{i}", "status": "failed"}).encode(),
                          forged)
        assert code == 403, code
    # Every refusal is counted...
    def refusals():
        _, text = request(admin, "/metrics")
        m = re.search(r'pigeon_webhook_refusals_total\{provider="carrier",status="403"\} (\d+)', text)
        return m and int(m.group(1)) == 300
    wait_for("300 refusals in /metrics", refusals, timeout=30)
    # ...and on-call is told, once the engine stored its heartbeat detail.
    def warned():
        status, _ = env.status()
        return [a for a in status["alert_details"] if a["name"] == "webhook_refusals"]
    alert = wait_for("the webhook_refusals warning in status", warned, timeout=30)[0]
    assert "300 webhooks refused" in alert["text"] and "carrier 403: 300" in alert["text"], alert
    # ...but the log has a line, not 300 (one per provider and status every 10 s).
    with open(log) as f:
        lines = [line for line in f if "refused (403)" in line]
    assert 1 <= len(lines) <= 3, lines
    serve.terminate()
    serve.wait(timeout=30)


def a_replayed_mo_without_a_carrier_id_is_refused_and_answered_once(env):
    port, record = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    csv, _ = env.contacts(1)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("promo", KEYWORD_STEPS))
    serve, hooks, _ = start_serve(env)
    sent = wait_for("the first message submitted", lambda: [
        m for m in messages(env) if m["step"] == "hello" and m["state"] == "submitted"])[0]
    # The simulator dialect's MO without "id": nothing in it tells a replay from a new message.
    data, headers = signed(TOKEN, {"from": sent["recipient"], "to": "shop", "text": "1"})
    assert request(hooks, "/webhooks/carrier/inbound", data, headers)[0] == 200
    for _ in range(3):
        code, body = request(hooks, "/webhooks/carrier/inbound", data, headers)
        assert code == 409 and "replayed request" in body, (code, body)
    replies = json.loads(env.run("replies", "--json").stdout)
    assert len(replies) == 1, replies
    wait_for("the one keyword response", lambda: [
        r for r in e2e.read_records(record) if "Sample reserved" in r["text"]])
    time.sleep(1)
    answers = [r for r in e2e.read_records(record) if "Sample reserved" in r["text"]]
    assert len(answers) == 1, answers
    serve.terminate()
    serve.wait(timeout=30)


def an_io_fault_on_the_database_files_is_a_logged_stop_and_nothing_is_lost(env):
    """SQLite maps <db>-shm into memory; the file cut under the engine (or made immutable, its
    disk gone) raises SIGBUS on the next access. The engine must stop with a line saying why,
    `status` must say it, and a restart must finish the campaign."""
    port, record = env.simulator("--latency-ms", "20")
    write_config(env, f"http://127.0.0.1:{port}")
    csv, expected = env.contacts(300)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("promo", e2e.KEYWORD_STEPS.split("replies:")[0]))
    run_env = dict(os.environ)
    # Under AddressSanitizer, leave SIGBUS to pigeon's own handler.
    run_env["ASAN_OPTIONS"] = (run_env.get("ASAN_OPTIONS", "") + ":handle_sigbus=0").lstrip(":")
    log = os.path.join(env.tmp, "serve.log")
    with open(log, "w") as out:
        p = subprocess.Popen([e2e.PIGEON, "--config", env.config, "--db", env.db, "serve"],
                             stdout=out, stderr=subprocess.STDOUT, env=run_env)
        env.procs.append(p)
        wait_for("the first sends", lambda: len(e2e.read_records(record)) >= 20, timeout=60)
        # What a full disk or a storage fault does to the mapped file: it shrinks under us.
        for _ in range(100):
            if p.poll() is not None:
                break
            os.truncate(env.db + "-shm", 0)
            time.sleep(0.05)
        code = p.wait(timeout=30)
    with open(log) as f:
        text = f.read()
    assert code == 74, (code, text[-2000:])
    assert "stopped: I/O error (SIGBUS)" in text, text[-2000:]
    status, rc = env.status()
    assert rc == 2, (rc, status)
    down = [a for a in status["alert_details"] if a["name"] == "engine_down"]
    assert down and "SIGBUS" in down[0]["text"], status["alert_details"]
    # A restart clears the reason and finishes the campaign: every contact served.
    env.run("serve", "--until-idle", timeout=300)
    got = {r["to"] for r in e2e.read_records(record)}
    assert got == set(expected), len(set(expected) - got)
    status, rc = env.status()
    assert not [a for a in status["alert_details"] if a["name"] == "engine_down"], status


def idle_connections_beyond_the_cap_are_refused_and_sends_go_on(env):
    """Idle clients holding connections to the public webhook port must not starve the engine of
    file descriptors: the listener caps them, sends go on, status says so."""
    port, record = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    with open(env.config) as f:
        config = f.read()
    config = config.replace('listen: { webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }',
                            'listen: { webhooks: "127.0.0.1:0", admin: "127.0.0.1:0", '
                            'max_connections: 20 }')
    with open(env.config, "w") as f:
        f.write(config)
    csv, expected = env.contacts(50)
    env.run("contacts", "import", csv)
    serve, hooks, admin = start_serve(env)
    idle = []
    try:
        refused = 0
        for _ in range(60):
            # Beyond the cap the listener closes new connections at once: a reset may already
            # reach connect() (that is the cap working, not a failure).
            try:
                idle.append(socket.create_connection(("127.0.0.1", hooks), timeout=5))
            except ConnectionError:
                refused += 1
        assert len(idle) >= 20, (len(idle), refused)
        # The engine still sends: a campaign applied now is delivered to everyone.
        env.run("campaign", "apply", env.campaign("promo", e2e.KEYWORD_STEPS.split("replies:")[0]))
        wait_for("every contact's first message at the carrier", lambda: {
            r["to"] for r in e2e.read_records(record)} == set(expected), timeout=60)
        code, _ = request(admin, "/healthz")
        assert code == 200, code
        def warned():
            status, _ = env.status()
            return [a for a in status["alert_details"] if a["name"] == "connection_cap"]
        alert = wait_for("the connection_cap warning", warned, timeout=30)[0]
        assert "webhooks listener at its cap of 20" in alert["text"], alert
    finally:
        for s in idle:
            s.close()
    serve.terminate()
    serve.wait(timeout=30)


def main():
    e2e.run_test_from_argv(globals(), "pigeon-hostile-")


if __name__ == "__main__":
    main()
