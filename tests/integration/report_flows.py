#!/usr/bin/env python3
"""`pigeon report` through the real binary: a campaign with two variants on `pigeon
simulate-carrier` (rejected numbers, delivery receipts delivered and undelivered, replies 1/2/3,
STOPs), then the report's figures against counts computed here from `messages --json` and
`replies --json`; the same numbers in text, CSV, HTML and the admin listener's pages; the HTML page
drawn by headless Chromium; bad input. Run one test: report_flows.py PIGEON_BINARY TEST_NAME."""
import collections
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import wait_for  # noqa: E402
from replies_flows import write_config  # noqa: E402
from webhooks_e2e import SIGN, post, start_serve  # noqa: E402

NAME = "spring <A&B>"  # a name that must be escaped in HTML and encoded in a URL
REJECTED = "+86138"    # the simulator refuses these numbers (code 21211)


def campaign(env):
    path = os.path.join(env.tmp, "spring.yaml")
    with open(path, "w") as f:
        f.write(f"""campaign: "{NAME}"
sender: shop
category: marketing
audience: {{ all_tags: [member] }}
stop_on: [opt_out, "event:purchase"]
steps:
  - id: offer
    at: now
    sms:
      variants:
        A: {{ weight: 50, text: "Spring sale: reply 1 for a sample, 2 for a call, 3 for less" }}
        B: {{ weight: 50, text: "Our spring picks: 1 sample, 2 call back, 3 fewer messages" }}
replies:
  valid_for: 2d
  keywords:
    "1": {{ tag: wants-sample }}
    "2": {{ tag: wants-callback }}
    "3": {{ action: frequency, max: 1, per: 30d }}
ab_test: {{ metric: "reply:1", decide_after: 7d }}
""")
    return path


def messages(env):
    return json.loads(env.run("messages", "--json").stdout)


def scenario(env):
    """48 members (6 on refused numbers): the campaign, receipts (every 5th undelivered with
    30005), replies 1/2/3, an unmatched one and STOPs. Returns (serve, admin port, hooks port)."""
    port, _ = env.simulator("--reject-prefix", REJECTED)
    write_config(env, f"http://127.0.0.1:{port}")
    text = open(env.config).read().replace(
        "kind: simulator,", 'kind: simulator, price_per_segment: "0.05 CNY",')
    with open(env.config, "w") as f:
        f.write(text)
    path = os.path.join(env.tmp, "contacts.csv")
    with open(path, "w") as f:
        f.write("phone,first_name,tags\n")
        for i in range(48):
            prefix = REJECTED if i % 8 == 7 else "+86139"
            f.write(f"{prefix}{i:08d},U{i},member\n")
    env.run("contacts", "import", path)
    env.run("campaign", "apply", campaign(env))
    serve, hooks, admin = start_serve(env)
    wait_for("every message submitted or refused", lambda: (
        lambda ms: ms if len(ms) == 48 and all(
            m["state"] in ("submitted", "failed") for m in ms) else None)(
        [m for m in messages(env) if m["step"] == "offer"]))
    sent = sorted((m for m in messages(env) if m["state"] == "submitted"), key=lambda m: m["id"])
    for i, m in enumerate(sent):
        dlr = {"ref": str(m["id"]), "id": m["carrier_id"], "status": "delivered"}
        if i % 5 == 4:
            dlr.update(status="undelivered", error_code="30005")
        code, body = post(hooks, "/webhooks/carrier/status", dlr, SIGN)
        assert code == 200, (code, body)
    texts = ["1", "1", "2", "3", "1", "STOP", "2", "hello?", "1", "STOP", "3", "1"]
    for i, m in enumerate(sent[:len(texts)]):
        mo = {"from": m["recipient"], "to": "shop", "text": texts[i], "id": f"MO-{i}"}
        code, body = post(hooks, "/webhooks/carrier/inbound", mo, SIGN)
        assert code == 200, (code, body)
    # A second reply from one recipient: recipients are counted once per keyword.
    mo = {"from": sent[0]["recipient"], "to": "shop", "text": "1", "id": "MO-again"}
    assert post(hooks, "/webhooks/carrier/inbound", mo, SIGN)[0] == 200
    wait_for("the replies stored", lambda: len(json.loads(
        env.run("replies", "--json").stdout)) == len(texts) + 1)
    # Purchases (the stop_on goal): two who replied 1, two who did not.
    for m in (sent[i] for i in PURCHASERS):
        code, body = post(admin, "/v1/events", {"name": "purchase", "phone": m["recipient"]})
        assert code == 200, (code, body)
    return serve, admin, hooks


PURCHASERS = (0, 1, 20, 21)  # indexes into the submitted messages, by id


def expected_figures(env):
    """Per variant, from `messages --json` and `replies --json` only."""
    ms = [m for m in messages(env) if m["campaign"] == NAME and m["step"] == "offer"]
    variant_of = {m["recipient"]: m["variant"] for m in ms}
    out = {}
    for v in ("A", "B"):
        mine = [m for m in ms if m["variant"] == v]
        states = collections.Counter(m["state"] for m in mine)
        out[v] = {"queued": len(mine), "sent": sum(m["sent"] is not None for m in mine),
                  **{s: states[s] for s in ("delivered", "undelivered", "failed", "expired",
                                            "suppressed")},
                  "by_keyword": collections.defaultdict(set), "replied": set(),
                  "opted_out": set()}
    sent = sorted((m for m in ms if m["state"] not in ("failed",)), key=lambda m: m["id"])
    for i in PURCHASERS:
        out[sent[i]["variant"]].setdefault("purchased", set()).add(sent[i]["recipient"])
    for r in json.loads(env.run("replies", "--json", "--campaign", NAME).stdout):
        v = variant_of[r["phone"]]
        out[v]["replied"].add(r["phone"])
        out[v]["by_keyword"][r["keyword"] or "(unmatched)"].add(r["phone"])
        if "opt_out" in r["action"]:
            out[v]["opted_out"].add(r["phone"])
    return out


def wilson(k, n):
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def report_json(env):
    return json.loads(env.run("report", NAME, "--json").stdout)


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def embedded(html):
    m = re.search(r'<script type="application/json" id="report-json">(.*?)</script>', html, re.S)
    assert m, "the page carries no report JSON"
    return json.loads(m.group(1))


def same_numbers(a, b):
    a, b = dict(a), dict(b)
    a.pop("generated_at"), b.pop("generated_at")
    return a == b


def report_figures_equal_counts_from_messages_and_replies(env):
    serve, admin, _ = scenario(env)
    expected = expected_figures(env)
    report = report_json(env)
    rows = {r["variant"]: r for r in report["funnel"]}
    assert set(rows) == {"A", "B"} and all(r["step"] == "offer" for r in rows.values()), rows
    for v, want in expected.items():
        row = rows[v]
        assert row["queued"] == want["queued"] > 0, (v, row, want)
        for key in ("sent", "delivered", "undelivered", "failed", "expired", "suppressed"):
            assert row[key]["count"] == want[key], (v, key, row[key], want[key])
        assert row["replied"]["count"] == len(want["replied"]), (v, row["replied"], want)
        assert row["opted_out"]["count"] == len(want["opted_out"]), (v, row["opted_out"])
        got = {k: p["count"] for k, p in row["replied_by_keyword"].items()}
        assert got == {k: len(s) for k, s in want["by_keyword"].items()}, (v, got, want)
        # converted: the A/B metric reply:1 or the stop_on goal event:purchase, within the
        # reply window (2d) after the send.
        goal = set(want["by_keyword"].get("1", ())) | want.get("purchased", set())
        assert row["converted"]["count"] == len(goal), (v, row["converted"], goal)
        low, high = wilson(row["delivered"]["count"], want["sent"])
        assert abs(row["delivered"]["ci95"][0] - low) < 1e-9, (row["delivered"], low)
        assert abs(row["delivered"]["ci95"][1] - high) < 1e-9, (row["delivered"], high)
        assert row["delivered"]["base"] == want["sent"] and row["sent"]["base"] == want["queued"]
    assert report["window_seconds"] == 2 * 86400, report["window_seconds"]
    assert report["conversion_goals"] == ["reply:1", "event:purchase"], report["conversion_goals"]
    assert sum(len(w.get("purchased", ())) for w in expected.values()) == 4
    assert sum(len(w["opted_out"]) for w in expected.values()) == 2
    assert sum(w["failed"] for w in expected.values()) == 6
    total = report["total"]
    assert total["queued"] == 48 and total["sent"]["count"] == 42, total
    errors = {(e["provider"], e["code"]): e["count"] for e in report["carrier_errors"]}
    undelivered = sum(w["undelivered"] for w in expected.values())
    assert errors == {("carrier", "21211"): 6, ("carrier", "30005"): undelivered}, errors
    # A/B: conversions per variant and the z-test's p-value, from the counts above.
    ab = report["ab_test"]
    conv = {v["variant"]: v["conversion"] for v in ab["variants"]}
    for v in ("A", "B"):
        assert conv[v]["count"] == len(expected[v]["by_keyword"].get("1", ())), conv
        assert conv[v]["base"] == expected[v]["sent"], conv
    x1, n1, x2, n2 = (conv["A"]["count"], conv["A"]["base"], conv["B"]["count"], conv["B"]["base"])
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert abs(ab["p_value"] - math.erfc(abs(z) / math.sqrt(2))) < 1e-9, ab
    assert ab["decision"]["decided_at"] is None and ab["metric"] == "reply:1", ab
    # Latency, timeline, segments and cost.
    delivered = sum(w["delivered"] for w in expected.values())
    assert report["latency_ms"]["count"] == delivered > 0, report["latency_ms"]
    lat = report["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat
    points = report["timeline"]["points"]
    assert report["timeline"]["bucket"] == "hour"
    assert sum(p["sent"] for p in points) == 42 and sum(p["replied"] for p in points) == 13
    assert sum(p["delivered"] for p in points) == delivered
    assert report["segments"] == 42, report["segments"]
    cost = report["cost"]["by_provider"]
    assert cost == [{"provider": "carrier", "segments": 42, "price_per_segment": 0.05,
                     "currency": "CNY", "cost": 0.05 * 42}], cost
    assert report["journey"] is None

    # Text and CSV carry the same figures.
    text = env.run("report", NAME).stdout
    assert f"Report: {NAME} (version 1" in text, text
    assert re.search(rf"delivered\s+{rows['A']['delivered']['count']}\s", text), text
    assert "21211" in text and "30005" in text and "2.10 CNY" in text, text
    csv_path = os.path.join(env.tmp, "out.csv")
    p = env.run("report", NAME, "--csv", csv_path)
    assert f"wrote {csv_path}" in p.stdout, p.stdout
    with open(csv_path, newline="") as f:
        days = list(csv.DictReader(f))
    for v in ("A", "B"):
        mine = [d for d in days if d["variant"] == v and d["step"] == "offer"]
        for key in ("sent", "delivered", "undelivered", "failed", "replied", "opted_out"):
            assert sum(int(d[key]) for d in mine) == rows[v][key]["count"], (v, key, mine)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", d["day"]) for d in mine), mine

    # The HTML page, from the CLI and from the admin listener: the same numbers as --json.
    html_path = os.path.join(env.tmp, "report.html")
    env.run("report", NAME, "--html", html_path)
    html = open(html_path, encoding="utf-8").read()
    assert same_numbers(embedded(html), report_json(env))
    assert "spring &lt;A&amp;B&gt;" in html and NAME not in html.replace(
        embedded_text(html), ""), "the campaign name is not escaped"
    assert "<script src" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""), "the page loads something from outside"
    quoted = urllib.parse.quote(NAME, safe="")
    code, ctype, page = get(admin, "/reports/" + quoted)
    assert code == 200 and ctype.startswith("text/html"), (code, ctype, page[:300])
    assert same_numbers(embedded(page), report_json(env))
    code, _, index = get(admin, "/")
    assert code == 200 and f'href="/reports/{quoted}"' in index, index
    assert "spring &lt;A&amp;B&gt;" in index, index
    code, _, missing = get(admin, "/reports/nope")
    assert code == 404 and "No campaign named nope" in missing and quoted in missing, missing
    serve.terminate()
    serve.wait(timeout=30)


def embedded_text(html):
    m = re.search(r'<script type="application/json" id="report-json">.*?</script>', html, re.S)
    return m.group(0) if m else ""


def the_admin_report_pages_need_the_admin_token_when_one_is_set(env):
    port, _ = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    with open(env.config, "a") as f:
        f.write("admin_token: s3cret-token\n")
    csv_path, _ = env.contacts(2)
    env.run("contacts", "import", csv_path)
    env.run("campaign", "apply", campaign(env))
    serve, _, admin = start_serve(env)
    for path in ("/", "/reports/" + urllib.parse.quote(NAME, safe="")):
        assert get(admin, path)[0] == 401, path
        req = urllib.request.Request(f"http://127.0.0.1:{admin}{path}",
                                     headers={"Authorization": "Bearer s3cret-token"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200, path
    serve.terminate()
    serve.wait(timeout=30)


def an_unknown_campaign_exits_2_and_names_the_campaigns_there_are(env):
    port, _ = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    csv_path, _ = env.contacts(2)
    env.run("contacts", "import", csv_path)
    env.run("campaign", "apply", campaign(env))
    p = env.run("report", "nope", check=False)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert f"no campaign named 'nope'; campaigns: {NAME}" in p.stderr, p.stderr
    assert p.stdout == "", p.stdout
    p = env.run("report", "nope", "--json", check=False)
    assert p.returncode == 2 and p.stdout == "", p


def html_to_an_unwritable_path_fails_clearly_and_writes_nothing(env):
    port, _ = env.simulator()
    write_config(env, f"http://127.0.0.1:{port}")
    csv_path, _ = env.contacts(2)
    env.run("contacts", "import", csv_path)
    env.run("campaign", "apply", campaign(env))
    # A folder that does not exist.
    missing = os.path.join(env.tmp, "no-such-folder", "r.html")
    p = env.run("report", NAME, "--html", missing, check=False)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert f"cannot write the report to {missing}: No such file or directory" in p.stderr, p.stderr
    assert not os.path.exists(os.path.dirname(missing))
    # A path that is a folder: the page is written beside it first, the rename fails, and the
    # temporary file goes (even root cannot replace a folder with a file).
    out = os.path.join(env.tmp, "out")
    os.makedirs(os.path.join(out, "r.html"))
    before = sorted(os.listdir(out))
    p = env.run("report", NAME, "--html", os.path.join(out, "r.html"), check=False)
    assert p.returncode == 2 and "cannot write the report to" in p.stderr, p.stderr
    assert "nothing written there" in p.stderr, p.stderr
    assert sorted(os.listdir(out)) == before, os.listdir(out)
    assert os.listdir(os.path.join(out, "r.html")) == []
    # A good path next to it works, and leaves no temporary file.
    p = env.run("report", NAME, "--html", os.path.join(out, "ok.html"))
    assert sorted(os.listdir(out)) == ["ok.html", "r.html"], os.listdir(out)


def the_html_report_draws_its_charts_in_headless_chromium(env):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        if os.environ.get("CI") == "true":
            raise AssertionError("chromium is not installed (scripts/bootstrap.sh installs it): "
                                 "CI must run the browser test")
        print("skipped: chromium is not installed (apt-get install chromium); CI runs this test")
        sys.exit(77)
    serve, _, _ = scenario(env)
    serve.terminate()
    serve.wait(timeout=30)
    html_path = os.path.join(env.tmp, "report.html")
    env.run("report", NAME, "--html", html_path)
    report = report_json(env)
    profile = os.path.join(env.tmp, "chromium-profile")
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
              "--disable-background-networking", "--hide-scrollbars"]
    url = "file://" + html_path
    dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    errors = [ln for ln in dom.stderr.splitlines()
              if "Uncaught" in ln or ("CONSOLE" in ln and "ERROR" in ln)]
    assert not errors, errors
    charts = dict(re.findall(r'<svg class="chart" data-chart="([a-z]+)"(.*?)</svg>', dom.stdout,
                             re.S))
    assert set(charts) == {"funnel", "timeline", "ab"}, list(charts)
    series = {name: body.count('class="series"') for name, body in charts.items()}
    assert series == {"funnel": len(report["funnel"]), "timeline": 3,
                      "ab": len(report["ab_test"]["variants"])}, series
    assert charts["funnel"].count("<rect") == 6 * len(report["funnel"]), charts["funnel"]
    assert re.search(r'<polyline[^>]*points="[\d.]+,[\d.]+', charts["timeline"]), "no line drawn"
    shot = os.path.join(env.tmp, "shot.png")
    for size, path in (("1280,1800", shot), ("390,2400", shot + ".phone.png")):
        p = subprocess.run(common + ["--screenshot=" + path, "--window-size=" + size, url],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and os.path.getsize(path) > 0, p.stderr[-2000:]
        colours = png_colours(path)
        # Background, text and the charts' colours: far more than a blank page has.
        assert len(colours) > 20, f"{path}: only {len(colours)} colours: nothing drew"
        assert (0x00, 0x72, 0xB2) in colours, f"{path}: no bar of the first series"


def png_colours(path):
    """The set of RGB colours of a PNG (8-bit RGB or RGBA, as Chromium writes them)."""
    import struct
    import zlib
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for x in range(0, stride, bpp):
            colours.add(tuple(line[x:x + 3]))
        prev = line
    return colours


if __name__ == "__main__":
    e2e.run_test_from_argv(globals(), "pigeon-report-")
