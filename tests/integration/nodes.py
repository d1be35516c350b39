#!/usr/bin/env python3
"""Several `pigeon serve` nodes on one PostgreSQL behave as one engine: each message sent once
(a killed node's work recovered by the survivors), a provider's rate shared by all nodes, a
frequency cap held with two nodes racing for one recipient, pause and resume reaching every node.
A throwaway cluster per test (pgcluster.py). Run one test: nodes.py PIGEON_BINARY TEST_NAME."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import pgcluster  # noqa: E402
from e2e import read_records, STEP_NOW  # noqa: E402


def wait_for(what, fn, timeout, every=0.5, describe=None):
    """e2e.wait_for at a gentler pace: `pigeon status` is a process and a database session."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    detail = f"; {describe()}" if describe else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")


class Nodes:
    """One PostgreSQL database, a config file per node (each node reloads its own), the nodes."""

    def __init__(self, env, pg):
        self.env = env
        self.pg = pg
        self.url = pg.create_database("pigeon")
        env.db = self.url  # Env.run passes --db: the CLI commands use the shared database
        self.procs = {}
        self.ports = {}

    def write_configs(self, names, carrier_port, rate, burst, concurrency, extra="", ports=None):
        for name in names:
            self.ports[name] = (ports or {}).get(name) or e2e.free_port()
            with open(self.config(name), "w") as f:
                f.write(f"""database: "{self.url}"
default_timezone: Asia/Shanghai
default_region: CN
listen: {{ webhooks: "127.0.0.1:{self.ports[name]}", admin: "127.0.0.1:0" }}
reconcile_grace: 2s
senders:
  shop:
    signature: "[Shop]"
    opt_out_hint: "Reply STOP to opt out"
    route: [carrier]
providers:
  carrier: {{ kind: simulator, url: "http://127.0.0.1:{carrier_port}", rate: {rate}/s,
             burst: {burst}, concurrency: {concurrency},
             webhook_secret: "${{{e2e.SIM_SECRET_ENV}}}" }}
{extra}""")
        # The CLI commands (import, apply, status) read the first node's file.
        self.env.config = self.config(names[0])

    def config(self, name):
        return os.path.join(self.env.tmp, f"pigeon-{name}.yaml")

    def start(self, name):
        log = open(os.path.join(self.env.tmp, f"node-{name}.log"), "w")
        p = subprocess.Popen([e2e.PIGEON, "--config", self.config(name), "serve", "--node", name],
                             stdout=log, stderr=subprocess.STDOUT, text=True)
        self.env.procs.append(p)
        self.procs[name] = p
        return p

    def log(self, name):
        with open(os.path.join(self.env.tmp, f"node-{name}.log")) as f:
            return f.read()

    def stop(self, name):
        p = self.procs[name]
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        assert rc == 0, f"node {name} exited {rc}:\n{self.log(name)[-3000:]}"

    def running(self, names):
        for name in names:
            assert self.procs[name].poll() is None, f"node {name} died:\n{self.log(name)[-3000:]}"
        return True


def carrier(env, *extra):
    """The simulator as the carrier every node sends to; its receive log is the judge."""
    return env.simulator("--latency-ms", "5", *extra)


def accepted(record):
    return [r for r in read_records(record) if r.get("status") in (200, 201)]


def seconds_of(records):
    return [datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp() for r in records]


def busiest_second(times):
    """The most requests in one calendar second, and in any sliding second, at the carrier."""
    per_second = {}
    for t in times:
        per_second[int(t)] = per_second.get(int(t), 0) + 1
    times = sorted(times)
    sliding, first = 0, 0
    for i, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        sliding = max(sliding, i - first + 1)
    return max(per_second.values(), default=0), sliding


def submitted(st):
    m = st["messages"]
    return m.get("submitted", 0) + m.get("delivered", 0)


def three_nodes_send_a_campaign_once_per_recipient_though_one_is_killed_mid_way(env):
    # 15,000 at 300/s: about 50 s of sending, long enough for a kill a third of the way in and a
    # survivor's recovery (15 s without a heartbeat), short enough for CI under ASan.
    n, rate, burst, concurrency = 15000, 300, 30, 16
    with pgcluster.cluster() as pg:
        nodes = Nodes(env, pg)
        names = ["a", "b", "c"]
        # Delivery reports go to node a, whatever node sent the message: webhooks answer on any
        # node, and a receipt for a message the killed node left `submitting` reconciles it.
        a_port = e2e.free_port()
        port, record = carrier(env, "--dlr", "delivered", "--dlr-delay-ms", "200",
                               "--status-callback",
                               f"http://127.0.0.1:{a_port}/webhooks/carrier/status")
        nodes.write_configs(names, port, rate, burst, concurrency, ports={"a": a_port})
        csv, expected = env.contacts(n)
        env.run("contacts", "import", csv, timeout=600)
        env.run("campaign", "apply", env.campaign("blast", STEP_NOW), timeout=600)
        t0 = time.time()
        for name in names:
            nodes.start(name)
        # Node c dies mid-way, with sends in flight, and never comes back.
        wait_for("a third of the campaign at the carrier",
                 lambda: nodes.running(names) and len(read_records(record)) >= n // 3,
                 timeout=300)
        nodes.procs["c"].send_signal(signal.SIGKILL)
        nodes.procs["c"].wait()
        killed_at = time.time()

        def done():
            st, _ = env.status()
            return nodes.running(["a", "b"]) and submitted(st) >= n and st

        st = wait_for("every message sent", done, timeout=600, every=2,
                      describe=lambda: json.dumps(env.status()[0].get("messages")))
        elapsed = time.time() - t0
        nodes.stop("a")
        nodes.stop("b")

        # Every recipient got its message, with its text; a second copy only where flagged.
        counts = {}
        for r in accepted(record):
            counts[r["to"]] = counts.get(r["to"], 0) + 1
            assert r["text"] == expected[r["to"]], r
        missing = set(expected) - set(counts)
        assert not missing, f"{len(missing)} recipients never got their message"
        duplicates = sum(c - 1 for c in counts.values())
        possible = st["possible_duplicates"]
        assert duplicates <= possible, f"{duplicates} duplicates but {possible} flagged"
        # Flagged: what node c had `submitting` when it died, at most its lane's concurrency.
        assert possible <= concurrency, f"{possible} flagged, over node c's window {concurrency}"
        # A survivor found node c dead (15 s without a heartbeat) and recovered its work.
        recovered = [name for name in ("a", "b") if "recovered node c" in nodes.log(name)]
        assert recovered, "no survivor logged recovering node c"
        # The lane's 300 segments/s held across the three nodes at the carrier.
        calendar, sliding = busiest_second(seconds_of(read_records(record)))
        assert calendar <= rate + burst, f"{calendar} requests in one second (rate {rate})"
        # And the nodes shared the rate rather than each sending slower: the whole campaign took
        # about n / rate seconds, plus node c's recovery.
        assert elapsed < n / rate * 1.6 + 30, f"{elapsed:.0f} s for {n} messages at {rate}/s"
        for name in ("a", "b"):
            m = re.search(r"engine stopped: \d+ claimed, (\d+) submitted", nodes.log(name))
            assert m and int(m.group(1)) > 0, f"node {name} sent nothing"
        print(f"{n} messages by 3 nodes (c killed {killed_at - t0:.0f} s in) in {elapsed:.0f} s; "
              f"busiest second {calendar} (sliding {sliding}) for {rate}/s + {burst}; "
              f"{duplicates} duplicates, {possible} flagged; recovered by {recovered}")


CAPPED = """policy:
  tiers: { everyone: "level >= 1" }
  frequency:
    - { tier: everyone, max: 1, per: 1d }
"""


def a_recipient_capped_at_one_a_day_gets_one_of_two_campaigns_sent_by_two_nodes_at_once(env):
    # Two `campaign apply` runs per recipient (each pair adjacent in the queue): 24 recipients
    # give 24 chances of the two nodes racing for one recipient's pair.
    recipients = 24
    with pgcluster.cluster() as pg:
        nodes = Nodes(env, pg)
        port, record = carrier(env)
        # One slot per node: after their first claims each node claims a message at a time, so
        # the two messages of a recipient (adjacent in the queue) often go to different nodes.
        nodes.write_configs(["a", "b"], port, 50, 5, 1, extra=CAPPED)
        path = os.path.join(env.tmp, "capped.csv")
        with open(path, "w") as f:
            f.write("phone,first_name,level,tags\n")
            for i in range(recipients):
                f.write(f"+86139{i:08d},U{i},1,r{i}\n")
        env.run("contacts", "import", path)
        # Two campaigns per recipient, applied pair by pair: a recipient's two messages are
        # neighbours in the queue's order.
        for i in range(recipients):
            for c in ("spring", "autumn"):
                campaign = os.path.join(env.tmp, f"{c}-{i}.yaml")
                with open(campaign, "w") as f:
                    f.write(f"campaign: {c}-{i}\nsender: shop\ncategory: marketing\n"
                            f"audience: {{ all_tags: [r{i}] }}\nsteps:\n  - id: hello\n"
                            f"    at: now\n    sms: {{ text: \"{c} for {{{{first_name}}}}\" }}\n")
                env.run("campaign", "apply", campaign)
        nodes.start("a")
        nodes.start("b")

        def settled():
            st, _ = env.status()
            m = st["messages"]
            held = m.get("deferred", 0) + m.get("expired", 0)
            return nodes.running(["a", "b"]) and submitted(st) + held >= 2 * recipients

        # Over the cap: deferred to the next day's room, or expired when that is past the step's
        # validity (the end of the recipient's day).
        wait_for("every message sent or held back by the cap", settled, timeout=120,
                 describe=lambda: json.dumps(env.status()[0].get("messages")))
        time.sleep(1)  # nothing more should arrive
        nodes.stop("a")
        nodes.stop("b")
        counts = {}
        for r in accepted(record):
            counts[r["to"]] = counts.get(r["to"], 0) + 1
        over = {k: v for k, v in counts.items() if v > 1}
        assert not over, f"{len(over)} capped recipients got both campaigns, e.g. {list(over)[:3]}"
        assert len(counts) == recipients, f"{recipients - len(counts)} recipients got nothing"
        rows = json.loads(env.run("messages", "--json").stdout)
        states = [r["state"] for r in rows]
        held = states.count("deferred") + states.count("expired")
        assert held == recipients, sorted(states)
        print(f"{recipients} recipients capped at 1/day, two campaigns each on two nodes: "
              f"one message each, {held} held back by the cap")


def a_pause_and_a_resume_reach_every_node_within_a_second(env):
    with pgcluster.cluster() as pg:
        nodes = Nodes(env, pg)
        port, record = carrier(env)
        nodes.write_configs(["a", "b"], port, 100, 5, 4)
        csv, _ = env.contacts(3000)
        env.run("contacts", "import", csv)
        env.run("campaign", "apply", env.campaign("blast", STEP_NOW))
        nodes.start("a")
        nodes.start("b")
        wait_for("sends under way", lambda: nodes.running(["a", "b"])
                 and len(read_records(record)) >= 300, timeout=60, every=0.1)
        env.run("campaign", "pause", "blast")
        paused_at = time.time()
        time.sleep(3)
        late = [t for t in seconds_of(read_records(record)) if t > paused_at + 1.0]
        assert not late, f"{len(late)} sends more than 1 s after the pause"
        before = len(read_records(record))
        env.run("campaign", "resume", "blast")
        resumed_at = time.time()
        wait_for("sends again", lambda: len(read_records(record)) > before + 20, timeout=10,
                 every=0.1)
        first = min(t for t in seconds_of(read_records(record)[before:]))
        assert first - resumed_at <= 1.0, f"first send {first - resumed_at:.2f} s after the resume"
        nodes.stop("a")
        nodes.stop("b")
        print(f"paused: nothing after {paused_at:.1f}+1 s; resumed: first send after "
              f"{first - resumed_at:.2f} s")


def main():
    e2e.run_test_from_argv(globals(), "pigeon-nodes-")


if __name__ == "__main__":
    main()
