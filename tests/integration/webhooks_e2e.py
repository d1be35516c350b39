#!/usr/bin/env python3
"""End-to-end tests of the webhooks and admin listeners of a real `pigeon serve`: delivery
receipts, keyword replies, STOP, the integrator API. Webhooks use the simulator codec's JSON
dialect ({"ref","id","status"} / {"from","to","text","id"}, HMAC-SHA256 signed like the simulator signs them).
Run one test: webhooks_e2e.py PIGEON_BINARY TEST_NAME."""
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import KEYWORD_STEPS, free_port, read_records, wait_for  # noqa: E402

TOKEN = "s3cret"


def write_config(env, url):
    with open(env.config, "w") as f:
        f.write(f"""database: {env.db}
default_timezone: Asia/Shanghai
default_region: CN
listen: {{ webhooks: "127.0.0.1:0", admin: "127.0.0.1:0" }}
public_url: "https://sms.example.com"
reconcile_grace: 1s
senders:
  shop:
    signature: "[Shop]"
    opt_out_hint: "Reply STOP to opt out"
    help_text: "Shop help: call 400"
    route: [carrier]
providers:
  carrier: {{ kind: simulator, url: "{url}", webhook_secret: "{TOKEN}" }}
""")


def start_serve(env):
    """Starts `pigeon serve`; returns (process, webhooks port, admin port) read from its log."""
    p = env.spawn("serve")
    ports = {}
    deadline = time.time() + 30
    while time.time() < deadline and len(ports) < 2:
        line = p.stdout.readline()
        if not line and p.poll() is not None:
            raise AssertionError("serve exited: " + p.stderr.read())
        m = re.search(r"(webhooks|admin) listening on 127\.0\.0\.1:(\d+)", line or "")
        if m:
            ports[m.group(1)] = int(m.group(2))
    assert len(ports) == 2, f"no listening ports in the log: {ports}"
    # Keep draining the log so the engine never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
    return p, ports["webhooks"], ports["admin"]


SIGN = object()  # post(..., SIGN): sign like the simulator does (HMAC-SHA256 over "ts.body")


def post(port, path, body, headers=None, method="POST"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if headers is SIGN:
        ts = str(int(time.time()))
        mac = hmac.new(TOKEN.encode(), ts.encode() + b"." + data, hashlib.sha256).hexdigest()
        headers = {"X-Timestamp": ts, "X-Signature": mac}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def messages(env):
    return json.loads(env.run("messages", "--json").stdout)


def receipts_replies_and_stop_go_through_the_real_listeners(env):
    port, record = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    csv, _ = env.contacts(3)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("promo", KEYWORD_STEPS))
    serve, hooks, admin = start_serve(env)
    auth = SIGN

    sent = wait_for("three submitted messages", lambda: [
        m for m in messages(env) if m["step"] == "hello" and m["state"] == "submitted"
    ] if len([m for m in messages(env) if m["state"] == "submitted"]) == 3 else None)
    first, second = sent[0], sent[1]

    # Receipts: applied, duplicate harmless, out of order ignored, forged refused.
    st = {"ref": str(first["id"]), "id": first["carrier_id"], "status": "delivered"}
    assert post(hooks, "/webhooks/carrier/status", st, auth)[0] == 200
    assert post(hooks, "/webhooks/carrier/status", st, auth)[0] == 200
    late = {"ref": str(first["id"]), "id": first["carrier_id"], "status": "accepted"}
    assert post(hooks, "/webhooks/carrier/status", late, auth)[0] == 200
    code, body = post(hooks, "/webhooks/carrier/status", dict(st, status="failed"),
                      {"X-Timestamp": str(int(time.time())), "X-Signature": "00" * 32})
    assert code == 403, (code, body)
    assert post(hooks, "/webhooks/nobody/status", st, auth)[0] == 404
    assert post(hooks, "/webhooks/carrier/status", b"{", auth)[0] == 400
    by_id = {m["id"]: m for m in messages(env)}
    assert by_id[first["id"]]["state"] == "delivered", by_id[first["id"]]

    # A keyword reply: tagged and answered through the same sender.
    mo = {"from": first["recipient"], "to": "shop", "text": " 1 ", "id": "MO-1"}
    assert post(hooks, "/webhooks/carrier/inbound", mo, auth)[0] == 200
    assert post(hooks, "/webhooks/carrier/inbound", mo, auth)[0] == 200  # carrier retry
    wait_for("the keyword response", lambda: [
        r for r in read_records(record)
        if r["to"] == first["recipient"] and "Sample reserved" in r["text"]])

    # STOP: the later step is suppressed at once, one confirmation goes out.
    stop = {"from": second["recipient"], "to": "shop", "text": "Stop!", "id": "MO-2"}
    assert post(hooks, "/webhooks/carrier/inbound", stop, auth)[0] == 200
    later = [m for m in messages(env)
             if m["recipient"] == second["recipient"] and m["step"] == "later"]
    assert later and later[0]["state"] == "suppressed" and later[0]["reason"] == "opted out", later
    wait_for("the opt-out confirmation", lambda: [
        r for r in read_records(record)
        if r["to"] == second["recipient"] and "unsubscribed" in r["text"]])

    replies = json.loads(env.run("replies", "--json").stdout)
    assert [(r["keyword"], r["action"]) for r in replies] == [
        ("1", "tag:wants-sample+respond"), ("STOP", "opt_out")], replies
    assert replies[0]["campaign"] == "promo" and replies[0]["phone"] == first["recipient"]
    only_promo = json.loads(env.run("replies", "--json", "--campaign", "nope").stdout)
    assert only_promo == []

    # The integrator API on the admin listener.
    code, body = post(admin, "/v1/events", {"name": "purchase"})
    assert code == 400 and json.loads(body)["field"] == "phone", body
    assert post(admin, "/v1/events", {"name": "purchase", "phone": first["recipient"]})[0] == 200
    code, body = post(admin, "/v1/contacts", [{"phone": "13900000099", "tags": ["member"]}])
    assert code == 200 and json.loads(body)["upserted"] == 1, body
    assert post(admin, "/nothing", {})[0] == 404

    serve.terminate()
    serve.wait(timeout=30)


def the_simulator_calls_back_a_dlr_and_an_mo_that_gets_a_keyword_reply(env):
    """No webhook is posted by the test: `pigeon simulate-carrier` itself reports delivery to
    the status_callback pigeon gives it, and posts MOs (its POST /_mo) to pigeon's inbound
    webhook, both signed with the shared secret."""
    os.environ["PIGEON_SIM_SECRET"] = TOKEN
    hooks = free_port()
    base = f"http://127.0.0.1:{hooks}"
    port, record = env.simulator("--inbound-url", f"{base}/webhooks/carrier/inbound",
                                 "--webhook-secret-env", "PIGEON_SIM_SECRET")
    write_config(env, f"http://127.0.0.1:{port}")
    with open(env.config) as f:
        config = f.read()
    config = config.replace('webhooks: "127.0.0.1:0"', f'webhooks: "127.0.0.1:{hooks}"')
    config = config.replace('public_url: "https://sms.example.com"', f'public_url: "{base}"')
    config = config.replace(f'webhook_secret: "{TOKEN}"', 'webhook_secret: "${PIGEON_SIM_SECRET}"')
    with open(env.config, "w") as f:
        f.write(config)
    csv, _ = env.contacts(2)
    env.run("contacts", "import", csv)
    env.run("campaign", "apply", env.campaign("promo", KEYWORD_STEPS))
    serve, hooks_port, _ = start_serve(env)
    assert hooks_port == hooks

    # MT out through the simulator, its signed DLR back to /webhooks/carrier/status.
    hello = wait_for("both first steps delivered by the simulator's DLR", lambda: [
        m for m in messages(env) if m["step"] == "hello" and m["state"] == "delivered"
    ] if len([m for m in messages(env)
              if m["step"] == "hello" and m["state"] == "delivered"]) == 2 else None)
    first, second = hello[0], hello[1]
    assert all(m["carrier_id"].startswith("SIM-") for m in hello), hello

    def mo(frm, text):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/_mo", method="POST",
            data=json.dumps({"from": frm, "to": "shop", "text": text}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read().decode())

    # An MO through the simulator: pigeon answered 200, tagged it and replied via the sender.
    code, body = mo(first["recipient"], " 1 ")
    assert code == 200 and body["status"] == 200, body
    wait_for("the keyword response submitted to the simulator", lambda: [
        r for r in read_records(record)
        if r["to"] == first["recipient"] and "Sample reserved" in r["text"]])
    wait_for("the keyword response delivered", lambda: [
        m for m in messages(env)
        if m["recipient"] == first["recipient"] and m["step"].startswith("reply:")
        and m["state"] == "delivered"])

    # A STOP through the simulator: the later step is suppressed, a confirmation goes out.
    code, body = mo(second["recipient"], "STOP")
    assert code == 200 and body["status"] == 200, body
    later = [m for m in messages(env)
             if m["recipient"] == second["recipient"] and m["step"] == "later"]
    assert later and later[0]["state"] == "suppressed", later
    wait_for("the opt-out confirmation", lambda: [
        r for r in read_records(record)
        if r["to"] == second["recipient"] and "unsubscribed" in r["text"]])

    replies = json.loads(env.run("replies", "--json").stdout)
    assert [(r["keyword"], r["action"], r["campaign"]) for r in replies] == [
        ("1", "tag:wants-sample+respond", "promo"), ("STOP", "opt_out", "promo")], replies
    assert all(r["phone"] in (first["recipient"], second["recipient"]) for r in replies)

    serve.terminate()
    serve.wait(timeout=30)


def main():
    e2e.run_test_from_argv(globals(), "pigeon-webhooks-")


if __name__ == "__main__":
    main()
