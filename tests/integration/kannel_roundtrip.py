#!/usr/bin/env python3
"""The kannel codec against a real Kannel: bearerbox + smsbox + fakesmsc on loopback.

  kannel_roundtrip.py KANNEL_CODEC_TOOL

(a) an MT built by the kannel codec (kannel_codec_tool prints the exact sendsms URL) is
    accepted by smsbox and arrives at fakesmsc, GSM-7 and UCS-2 alike;
(b) the delivery reports Kannel fetches from the codec's dlr-url reach a receiver here and,
    parsed by the codec, name our message id and end in `delivered`;
(c) an MO typed into fakesmsc comes back through the sms-service get-url with from/to/text and
    the codec reads it; a report with the wrong token is refused.
Exits 77 (skipped) when Kannel is not installed (scripts/bootstrap.sh installs it)."""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kannel_harness  # noqa: E402

SKIP = 77
TOKEN = "tok-0123456789abcdef"


class Receiver:
    """pigeon's webhook listener stand-in: records every request's full URL and answers 200."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                received.append((self.command, self.path, body, self.client_address[0]))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, pred, what, limit=20):
        deadline = time.time() + limit
        while time.time() < deadline:
            hits = [r for r in list(self.received) if pred(r)]
            if hits:
                return hits
            time.sleep(0.1)
        raise AssertionError(f"no {what} within {limit} s; received: {self.received}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def tool(tool_path, *args):
    return subprocess.run([tool_path, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def main():
    tool_path = sys.argv[1]
    ok, missing = kannel_harness.available()
    if not ok:
        print(f"SKIPPED: Kannel is not installed (missing {missing}); scripts/bootstrap.sh "
              "installs the kannel and kannel-extras packages")
        return SKIP
    receiver = Receiver()
    get_url = receiver.url(f"/webhooks/backup/inbound?token={TOKEN}&from=%p&to=%P&text=%a&id=%I")
    with tempfile.TemporaryDirectory(prefix="pigeon-kannel-") as tmp:
        harness = kannel_harness.KannelHarness(tmp, get_url)
        try:
            harness.start()
            run(tool_path, harness, receiver)
        except BaseException:
            print(harness.logs())
            raise
        finally:
            harness.stop()
            receiver.close()
    print("ok: MT to fakesmsc, DLR and MO back through the kannel codec")
    return 0


def run(tool_path, harness, receiver):
    callback = receiver.url("/webhooks/backup/status")
    cases = [(42, "+8613800138000", "Your code is 1234 @ 10% off"),
             (43, "+8613800138001", "双11咖啡券 ☕ 回T退订")]
    for message_id, to, text in cases:
        # (a) exactly the request the codec builds
        url = tool(tool_path, "submit", harness.sendsms_url, harness.username, harness.password,
                   "10690000", TOKEN, callback, str(message_id), to, text)
        with urllib.request.urlopen(url, timeout=10) as r:
            reply = r.read().decode()
            verdict = tool(tool_path, "reply", str(r.status), reply)
        assert verdict.startswith("accepted "), (r.status, reply, verdict)

    # method: POST, Kannel's other sendsms form (text body, X-Kannel-* headers)
    post = json.loads(tool(tool_path, "submit-post", harness.sendsms_url, harness.username,
                           harness.password, "10690000", TOKEN, callback, "44",
                           "+8613800138002", "posted ☕"))
    req = urllib.request.Request(post["url"], data=post["body"].encode(), method="POST",
                                 headers=dict(post["headers"]))
    with urllib.request.urlopen(req, timeout=10) as r:
        verdict = tool(tool_path, "reply", str(r.status), r.read().decode())
    assert verdict.startswith("accepted "), verdict
    cases.append((44, "+8613800138002", "posted ☕"))

    # fakesmsc prints each MT it receives: "Got message N: <from to type text>"
    deadline = time.time() + 20
    while time.time() < deadline:
        got = [line for line in harness.fakesmsc_lines() if "Got message" in line]
        if len(got) >= 3:
            break
        time.sleep(0.1)
    assert len(got) >= 3, harness.fakesmsc_lines()
    assert any("10690000 +8613800138002 ucs-2 " in g for g in got), got
    assert any("10690000 +8613800138000 text Your code is 1234 @ 10% off" in g for g in got), got
    # The UCS-2 one arrives as fakesmsc's "ucs-2" type, its text form-encoded UTF-16BE.
    ucs2 = [g for g in got if "+8613800138001 ucs-2 " in g]
    assert ucs2, got
    encoded = ucs2[0].split(" ucs-2 ", 1)[1].rstrip(">").replace("+", "%20")
    assert urllib.parse.unquote_to_bytes(encoded).decode("utf-16-be") == cases[1][2], ucs2

    # (b) the DLRs, parsed by the codec
    for message_id, _, _ in cases:
        def delivered(r, mid=message_id):
            if not r[1].startswith("/webhooks/backup/status"):
                return False
            parsed = tool(tool_path, "webhook", "status", TOKEN, r[3], receiver.url(r[1]))
            return parsed.startswith(f"receipt {mid} delivered")
        receiver.wait_for(delivered, f"delivered report for message {message_id}")
    reports = [tool(tool_path, "webhook", "status", TOKEN, r[3], receiver.url(r[1]))
               for r in receiver.received if r[1].startswith("/webhooks/backup/status")]
    assert all(p.startswith("receipt ") for p in reports), reports

    # A report with a wrong token is refused by the codec.
    forged = receiver.received[0][1].replace(TOKEN, "tok-guessed-000000")
    refused = tool(tool_path, "webhook", "status", TOKEN, "127.0.0.1", receiver.url(forged))
    assert refused.startswith("refused 403"), refused

    # (c) an MO typed into fakesmsc
    harness.send_mo("+8613800138000", "10690000", "T")
    hits = receiver.wait_for(lambda r: r[1].startswith("/webhooks/backup/inbound"), "MO")
    parsed = tool(tool_path, "webhook", "inbound", TOKEN, hits[0][3], receiver.url(hits[0][1]))
    assert parsed == "inbound +8613800138000 10690000 T", (parsed, hits[0])


if __name__ == "__main__":
    sys.exit(main())
