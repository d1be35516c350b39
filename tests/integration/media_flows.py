#!/usr/bin/env python3
"""MMS media from the engine's media_dir, the simulator's signed callbacks and a full disk,
through the real binary (issue 20, items 3, 7 and 10). Run one test:
media_flows.py PIGEON_BINARY TEST_NAME."""
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import e2e  # noqa: E402
from e2e import free_port, read_records, wait_for  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PNG = os.path.join(REPO, "config", "examples", "assets", "coupon-book.png")
# A JPEG's first bytes (SOI, APP0 JFIF), then anything: the type is decided by these.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + bytes(range(256)) * 40


def write_config(env, port, media_dir="media", sim_port=None, extra=""):
    """An engine config whose webhooks listener is public_url (carriers fetch media there)."""
    sim = (f'{{ kind: simulator, url: "http://127.0.0.1:{sim_port}", '
           f'webhook_secret: "${{{e2e.SIM_SECRET_ENV}}}" }}' if sim_port else "{ kind: simulator }")
    with open(env.config, "w") as f:
        f.write(f"""database: {env.db}
default_timezone: Asia/Shanghai
default_region: CN
listen: {{ webhooks: "127.0.0.1:{port}", admin: "127.0.0.1:0" }}
public_url: "http://127.0.0.1:{port}"
{f"media_dir: {media_dir}" if media_dir else ""}
senders:
  shop: {{ signature: "[Shop]", route: [carrier] }}
providers:
  carrier: {sim}
{extra}""")


def make_media(env):
    """media/coupon.png (a real PNG) and "media/spring sale/banner 1.jpg" (a JPEG)."""
    media = os.path.join(env.tmp, "media")
    os.makedirs(os.path.join(media, "spring sale"))
    shutil.copy(PNG, os.path.join(media, "coupon.png"))
    with open(os.path.join(media, "spring sale", "banner 1.jpg"), "wb") as f:
        f.write(JPEG)
    return media


def mms_campaign(env, name, media_entries, folder="campaigns"):
    """A campaign file in its own folder (local media are relative to it), one MMS step per
    entry, each entry on a line of its own; returns (path, {entry: line number})."""
    os.makedirs(os.path.join(env.tmp, folder), exist_ok=True)
    path = os.path.join(env.tmp, folder, name + ".yaml")
    lines = [f"campaign: {name}", "sender: shop", "category: transactional",
             "audience: { all_tags: [member] }", "steps:"]
    where = {}
    for i, entry in enumerate(media_entries):
        lines += [f"  - id: s{i}", "    at: now", "    mms:", '      subject: "Coupons"',
                  '      text: "Your coupon book, {{first_name}}"', "      media:"]
        lines.append(f'        - "{entry}"')
        where[entry] = len(lines)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path, where


def contacts(env, n=2):
    path = os.path.join(env.tmp, "contacts.csv")
    with open(path, "w") as f:
        f.write("phone,first_name,tags\n")
        for i in range(n):
            f.write(f"+86139{i:08d},U{i},member\n")
    env.run("contacts", "import", path)


def start_serve(env):
    """`pigeon serve` in the background; its log (stdout and stderr) is collected in p.log."""
    p = env.spawn("serve")
    p.log = []
    for stream in (p.stdout, p.stderr):
        threading.Thread(target=lambda s=stream: [p.log.append(line) for line in s],
                         daemon=True).start()
    wait_for("the webhooks listener", lambda: "webhooks listening" in log_text(p) or p.poll() is not None,
             timeout=60)
    assert p.poll() is None, log_text(p)
    return p


def log_text(p):
    return "".join(list(p.log))


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def an_mms_with_local_media_reaches_the_carrier_as_urls_that_serve_the_exact_bytes(env):
    media = make_media(env)
    port = free_port()
    sim_port, record = env.simulator()
    write_config(env, port, sim_port=sim_port)
    contacts(env)
    # Relative to the campaign's folder: ../media/...
    path, _ = mms_campaign(env, "coupons", ["../media/coupon.png", "../media/spring sale/banner 1.jpg"])
    env.run("campaign", "validate", path)
    env.run("campaign", "apply", path)
    serve = start_serve(env)
    wait_for("4 MMS submitted", lambda: len([r for r in read_records(record) if r["status"] == 201]) == 4,
             describe=lambda: str(read_records(record)))
    png = open(PNG, "rb").read()
    expected = {
        f"http://127.0.0.1:{port}/media/coupon.png": (png, "image/png"),
        f"http://127.0.0.1:{port}/media/spring%20sale/banner%201.jpg": (JPEG, "image/jpeg"),
    }
    for r in read_records(record):
        assert r["kind"] == "mms", r
        assert len(r["media"]) == 1, r
        m = r["media"][0]
        assert m["url"] in expected, m  # an absolute URL under public_url, never a path
        body, ctype = expected[m["url"]]
        assert m["status"] == 200 and m["error"] == "", m
        assert m["bytes"] == len(body), m
        assert m["sha256"] == hashlib.sha256(body).hexdigest(), m
        assert m["content_type"] == ctype, m
    # HEAD answers the GET's headers without a body.
    status, headers, body = request(port, "HEAD", "/media/coupon.png")
    assert status == 200 and body == b"", (status, body)
    assert headers["Content-Length"] == str(len(png)) and headers["Content-Type"] == "image/png"
    # No listing, no other method.
    assert request(port, "GET", "/media/")[0] == 404
    assert request(port, "GET", "/media/spring%20sale")[0] == 404
    assert request(port, "POST", "/media/coupon.png", body=b"x")[0] == 405
    serve.terminate()
    serve.wait(timeout=30)


def the_media_listener_serves_nothing_outside_media_dir(env):
    media = make_media(env)
    port = free_port()
    write_config(env, port)
    secret = os.path.join(env.tmp, "secret.png")
    shutil.copy(PNG, secret)  # a real PNG, one folder up from media_dir
    os.symlink("/etc/passwd", os.path.join(media, "passwd_link.png"))
    os.symlink(secret, os.path.join(media, "up_link.png"))
    shutil.copy("/etc/passwd", os.path.join(media, "renamed.png"))
    with open(os.path.join(media, ".hidden.png"), "wb") as f:
        f.write(open(PNG, "rb").read())
    start_serve(env)
    assert request(port, "GET", "/media/coupon.png")[0] == 200
    for path in ["/media/../secret.png", "/media/%2e%2e/secret.png", "/media/..%2fsecret.png",
                 "/media/passwd_link.png", "/media/up_link.png", "/media/renamed.png",
                 "/media/.hidden.png", "/media//etc/passwd", "/media/%2fetc%2fpasswd",
                 "/media/coupon.png%00.txt", "/media/nothing.png", "/media"]:
        status, _, body = request(port, "GET", path)
        assert status == 404, (path, status, body)
        assert b"root:" not in body and b"PNG" not in body, (path, body)


def local_media_that_leave_media_dir_are_refused_with_their_place(env):
    media = make_media(env)
    port = free_port()
    write_config(env, port)
    contacts(env)
    shutil.copy(PNG, os.path.join(env.tmp, "outside.png"))
    os.symlink("/etc/passwd", os.path.join(media, "shadow_link.png"))
    shutil.copy("/etc/passwd", os.path.join(media, "passwd.png"))  # a renamed non-image
    with open(os.path.join(media, "photo.png"), "wb") as f:
        f.write(JPEG)  # a JPEG named .png
    media_dir = os.path.realpath(media)
    cases = {
        "../outside.png": "outside media_dir " + media_dir,
        "../media/../outside.png": "outside media_dir " + media_dir,
        "../media/shadow_link.png": "(through a symbolic link), outside media_dir " + media_dir,
        "/etc/passwd": "outside media_dir " + media_dir,
        "../media/passwd.png": "is not a media type carriers accept",
        "../media/photo.png": "its content is image/jpeg but its name says image/png",
    }
    path, where = mms_campaign(env, "bad", list(cases))
    for verb in (["campaign", "validate"], ["campaign", "apply"], ["campaign", "preview"]):
        p = env.run(*verb, path, check=False)
        assert p.returncode != 0, (verb, p.stdout, p.stderr)
        out = p.stdout + p.stderr
        for entry, why in cases.items():
            line = where[entry]
            # file:line:col of the entry itself (col 12: after `        - "`), and why.
            m = re.search(re.escape(f"{path}:{line}:12: ") + r"[^\n]*media `" + re.escape(entry) +
                          r"`: [^\n]*" + re.escape(why), out)
            assert m, (verb, entry, out)
    # Preview never showed the size of a file outside media_dir (the issue's /etc/shadow).
    passwd_size = str(os.path.getsize("/etc/passwd"))
    p = env.run("campaign", "preview", path, "--json", check=False)
    for step in json.loads(p.stdout)["steps"]:
        for m in step["media"]:
            if m["entry"] in ("/etc/passwd", "../media/shadow_link.png", "../outside.png"):
                assert m["bytes"] == -1 and not m["ok"], m
    assert json.loads(env.run("messages", "--json").stdout) == []  # nothing applied

    # Without media_dir: refused, saying to set it.
    write_config(env, port, media_dir=None)
    ok_path, where = mms_campaign(env, "good", ["../media/coupon.png"])
    p = env.run("campaign", "validate", ok_path, check=False)
    assert p.returncode != 0
    assert f"{ok_path}:{where['../media/coupon.png']}:12: " in p.stderr, p.stderr
    assert "no media_dir" in p.stderr or "needs the engine config's media_dir" in p.stderr, p.stderr


def the_simulators_callbacks_must_be_signed_with_its_secret(env):
    port = free_port()
    sim_port, record = env.simulator()
    # An external simulator provider without a secret: refused at start, at its place.
    write_config(env, port, sim_port=sim_port)
    with open(env.config) as f:
        config = f.read()
    with open(env.config, "w") as f:
        f.write(config.replace(f', webhook_secret: "${{{e2e.SIM_SECRET_ENV}}}"', ""))
    p = env.run("serve", "--until-idle", check=False, timeout=60)
    assert p.returncode != 0, p
    line = next(i for i, l in enumerate(config.splitlines(), 1) if l.startswith("  carrier:"))
    assert re.search(re.escape(env.config) + f":{line}:\\d+: .*has no webhook_secret", p.stderr), p.stderr

    write_config(env, port, sim_port=sim_port)
    contacts(env, 1)
    path, _ = mms_campaign(env, "coupons", ["../media/coupon.png"])
    make_media(env)
    env.run("campaign", "apply", path)
    serve = start_serve(env)
    wait_for("the message delivered by the simulator's signed receipt", lambda: [
        m for m in json.loads(env.run("messages", "--json").stdout) if m["state"] == "delivered"])
    msg = json.loads(env.run("messages", "--json").stdout)[0]
    # A forged, unsigned receipt from a local process is refused with a reason.
    forged = json.dumps({"id": "SIM-1", "ref": str(msg["id"]), "status": "undelivered"})
    for what in ("status", "inbound"):
        body = forged if what == "status" else json.dumps(
            {"id": "SIM-MO-9", "from": "+8613900000000", "to": "10690000", "text": "T"})
        status, _, answer = request(port, "POST", f"/webhooks/carrier/{what}", body=body,
                                    headers={"Content-Type": "application/json"})
        assert status in (401, 403), (what, status, answer)
        assert b"signature" in answer.lower() or b"secret" in answer.lower(), answer
    assert json.loads(env.run("messages", "--json").stdout)[0]["state"] == "delivered"
    serve.terminate()
    serve.wait(timeout=30)


def the_embedded_simulator_signs_with_a_secret_of_its_own(env):
    """`kind: simulator` without a url: serve embeds one, which signs its receipts with a secret
    generated for the run; its receipts are accepted, an unsigned one is not."""
    port = free_port()
    write_config(env, port)
    make_media(env)
    contacts(env, 3)
    path, _ = mms_campaign(env, "coupons", ["../media/coupon.png"])
    env.run("campaign", "apply", path)
    serve = start_serve(env)
    wait_for("3 messages delivered by the embedded simulator's receipts", lambda: len([
        m for m in json.loads(env.run("messages", "--json").stdout) if m["state"] == "delivered"]) == 3)
    status, _, answer = request(port, "POST", "/webhooks/carrier/status",
                                body=json.dumps({"id": "SIM-1", "ref": "1", "status": "undelivered"}),
                                headers={"Content-Type": "application/json"})
    assert status in (401, 403), (status, answer)
    serve.terminate()
    serve.wait(timeout=30)


def a_full_disk_stops_sends_and_status_names_it(env):
    """The database's disk fills up while the engine sends (a small tmpfs, so root only): the
    engine keeps running and logs why, `status` says disk_full naming the file, and once space
    is freed every message goes out."""
    disk = os.path.join(env.tmp, "disk")
    os.makedirs(disk)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk],
                                           capture_output=True).returncode != 0:
        print("skipped: mounting a small tmpfs needs root")
        sys.exit(77)
    try:
        env.db = os.path.join(disk, "pigeon.db")
        port = free_port()
        write_config(env, port, media_dir=None)
        with open(env.config) as f:
            config = f.read()
        with open(env.config, "w") as f:  # 400 messages at 20/s: the disk fills mid-run
            f.write(config.replace("carrier: { kind: simulator }", "carrier: { kind: simulator, rate: 20/s }"))
        contacts(env, 400)
        path = os.path.join(env.tmp, "blast.yaml")
        with open(path, "w") as f:
            f.write("campaign: blast\nsender: shop\ncategory: transactional\n"
                    "audience: { all_tags: [member] }\nsteps:\n"
                    '  - { id: hello, at: now, sms: { text: "Hi {{first_name}}" } }\n')
        env.run("campaign", "apply", path)

        def states():
            counts = {}
            for m in json.loads(env.run("messages", "--json").stdout):
                counts[m["state"]] = counts.get(m["state"], 0) + 1
            return counts

        serve = start_serve(env)
        wait_for("the first sends", lambda: states().get("submitted", 0) + states().get("delivered", 0) >= 20)
        st = os.statvfs(disk)
        try:  # the disk is full (the engine may take the last bytes first)
            with open(os.path.join(disk, "filler"), "wb") as f:
                f.write(b"\0" * (st.f_bavail * st.f_frsize))
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        s, code = wait_for("status naming the full disk", lambda: (
            lambda r: r if any(a["name"] == "disk_full" for a in r[0]["alert_details"]) else None)(
                env.status()), timeout=60)
        assert code == 2, s
        alert = next(a for a in s["alert_details"] if a["name"] == "disk_full")
        assert alert["level"] == "critical" and env.db in alert["text"], alert
        assert "database or disk is full" in alert["text"], alert
        assert s["disk_available_bytes"] < 1024 * 1024, s
        # The engine keeps running and says why in its log (no silent crash or crash loop) ...
        wait_for("the engine logging the full disk", lambda: "database or disk is full" in log_text(serve))
        assert serve.poll() is None, log_text(serve)
        stalled = states()
        assert stalled.get("scheduled", 0) > 0, stalled  # it stopped sending
        # ... and once space is freed it goes on and sends everything: a message whose send
        # task failed on a write stays leased until its lease (5 min) ends and is sent then, as
        # after a crash; none is lost.
        os.remove(os.path.join(disk, "filler"))
        wait_for("every message sent after space was freed",
                 lambda: set(states()) <= {"submitted", "delivered", "leased"}, timeout=120,
                 describe=lambda: f"{states()}; log: {log_text(serve)[-3000:]}")
        done = states()
        assert sum(done.values()) == 400 and done.get("delivered", 0) > 300, done
        s, code = env.status()
        assert not any(a["name"] in ("disk_full", "dispatch_stalled") for a in s["alert_details"]), s
        serve.terminate()
        serve.wait(timeout=30)
    finally:
        env.close()
        subprocess.run(["umount", "-l", disk], capture_output=True)


if __name__ == "__main__":
    e2e.run_test_from_argv(globals(), "pigeon-media-")
