#!/usr/bin/env python3
"""Contract test: the twilio codec's request against Twilio's own OpenAPI description, checked by
Stoplight Prism's validating mock on loopback.

  twilio_prism.py TWILIO_CODEC_TOOL SPEC PRISM

Starts `prism mock SPEC` on a free 127.0.0.1 port, sends the request the codec builds (printed
by twilio_codec_tool) with urllib and expects 2xx; then sends the same request without `To` and
expects 4xx, so the test can fail. Prism rejects the repeated MediaUrl form Twilio really takes,
so MMS is covered by golden files only. Exits 77 (skipped) when prism is not installed
(scripts/install_prism.sh installs it; bootstrap runs that)."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from e2e import free_port

SKIP = 77



def codec_request(tool, base_url):
    out = subprocess.run(
        [tool, base_url, "+14155550100", "Your code is 1234 ☕",
         "https://sms.example.com/webhooks/main/status"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def send(req):
    r = urllib.request.Request(req["url"], data=req["body"].encode(), method=req["method"])
    for name, value in req["headers"]:
        r.add_header(name, value)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_ready(proc, port, log_path):
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("prism exited early:\n" + open(log_path).read())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("prism did not listen within 120 s:\n" + open(log_path).read())


def main():
    tool, spec, prism = sys.argv[1:4]
    if not os.path.exists(spec):
        print(f"FAIL: the Twilio spec is missing at {spec}")
        return 1
    if not (os.path.isfile(prism) and os.access(prism, os.X_OK)):
        print(f"SKIPPED: prism is not installed at {prism}; run scripts/install_prism.sh")
        return SKIP
    port = free_port()
    log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"pigeon-prism-{os.getpid()}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([prism, "mock", spec, "-h", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(proc, port, log_path)
        req = codec_request(tool, f"http://127.0.0.1:{port}")

        status, body = send(req)
        assert 200 <= status < 300, f"Prism refused the codec's request: {status} {body}"

        # The same request without To: the spec requires it, so Prism must refuse it.
        fields = [(k, v) for k, v in urllib.parse.parse_qsl(req["body"], keep_blank_values=True)
                  if k != "To"]
        broken = dict(req, body=urllib.parse.urlencode(fields))
        status, body = send(broken)
        assert 400 <= status < 500, f"Prism accepted a request without To: {status} {body}"

        # And without credentials: the spec's security scheme is basic auth.
        unauthenticated = dict(req, headers=[h for h in req["headers"] if h[0] != "Authorization"])
        status, body = send(unauthenticated)
        assert status == 401, f"Prism accepted a request without credentials: {status} {body}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    os.unlink(log_path)
    print("ok: Prism accepts the twilio codec's request and refuses a broken one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
