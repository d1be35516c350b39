"""A real Kannel on loopback for tests: bearerbox + smsbox + fakesmsc (Debian's kannel and
kannel-extras packages), on free ports, with generated configs in a temp folder.

    with KannelHarness(get_url=..., tmp=...) as k:
        k.sendsms_url            # http://127.0.0.1:<port>/cgi-bin/sendsms
        k.username, k.password   # the sendsms-user
        k.fakesmsc_lines()       # what fakesmsc printed so far (MTs it received)
        k.send_mo(frm, to, text) # an MO typed into fakesmsc (restarts it with that message)

`available()` says whether Kannel is installed (else callers skip). Every process is started by
the harness and stopped by stop() (also on leaving the `with` block)."""
import os
import socket
import subprocess
import time

from e2e import free_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"


def available():
    missing = [p for p in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(p, os.X_OK)]
    return (not missing), ", ".join(missing)



def wait_port(port, proc, what, log, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {limit} s:\n{tail(log)}")


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


class KannelHarness:
    def __init__(self, tmp, get_url, username="pigeon", password="kannel-secret"):
        self.tmp = tmp
        self.get_url = get_url
        self.username = username
        self.password = password
        self.admin_port = free_port()
        self.smsbox_port = free_port()
        self.smsc_port = free_port()
        self.sendsms_port = free_port()
        self.sendsms_url = f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"
        self.conf = os.path.join(tmp, "kannel.conf")
        self.procs = {}
        self.fakesmsc_out = os.path.join(tmp, "fakesmsc.out")
        self._fakesmsc_runs = 0

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def write_config(self):
        log = lambda name: os.path.join(self.tmp, name)
        get_url = self.get_url.replace('"', "%22")
        with open(self.conf, "w") as f:
            f.write(f"""group = core
admin-port = {self.admin_port}
admin-password = admin-secret
admin-interface = 127.0.0.1
smsbox-port = {self.smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{log('bearerbox.log')}"
log-level = 0
access-log = "{log('access.log')}"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{log('smsbox.log')}"
log-level = 0
access-log = "{log('smsbox-access.log')}"

group = sendsms-user
username = {self.username}
password = {self.password}
max-messages = 10
concatenation = true

group = sms-service
keyword = default
catch-all = true
get-url = "{get_url}"
omit-empty = true
max-messages = 0
""")

    def _spawn(self, name, args):
        out = open(os.path.join(self.tmp, name + ".stdout"), "ab")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp)
        self.procs[name] = (proc, out)
        return proc

    def start(self):
        self.write_config()
        bb = self._spawn("bearerbox", [BEARERBOX, self.conf])
        wait_port(self.smsbox_port, bb, "bearerbox", os.path.join(self.tmp, "bearerbox.log"))
        sb = self._spawn("smsbox", [SMSBOX, self.conf])
        wait_port(self.sendsms_port, sb, "smsbox", os.path.join(self.tmp, "smsbox.log"))
        self._start_fakesmsc([])
        return self

    def _start_fakesmsc(self, mo_lines):
        """fakesmsc connects to bearerbox's fake SMSC port, prints every MT it receives to
        stdout, and sends the given MO lines ("from to text words...") once each."""
        if "fakesmsc" in self.procs:
            self._stop("fakesmsc")
        self._fakesmsc_runs += 1
        out = open(self.fakesmsc_out, "ab")
        args = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-i", "0.1",
                "-m", str(len(mo_lines))]
        args += mo_lines if mo_lines else ["0 0 text unused"]
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp)
        self.procs["fakesmsc"] = (proc, out)
        # Connected once bearerbox reports the SMSC online.
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.smsc_online():
                return proc
            if proc.poll() is not None and not mo_lines:
                raise RuntimeError("fakesmsc exited:\n" + tail(self.fakesmsc_out))
            time.sleep(0.2)
        raise RuntimeError("fakesmsc did not connect:\n" + tail(self.fakesmsc_out))

    def smsc_online(self):
        import urllib.request
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password=admin-secret"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                text = r.read().decode(errors="replace")
        except OSError:
            return False
        return "online" in text.split("SMSC connections:", 1)[-1]

    def send_mo(self, frm, to, text):
        """Types one MO into fakesmsc: restarts it with that message (fakesmsc takes MOs on its
        command line) and keeps it connected for further MTs."""
        return self._start_fakesmsc([f"{frm} {to} text {text}"])

    def fakesmsc_lines(self):
        try:
            with open(self.fakesmsc_out, errors="replace") as f:
                return f.read().splitlines()
        except OSError:
            return []

    def _stop(self, name):
        proc, out = self.procs.pop(name)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out.close()

    def stop(self):
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            if name in self.procs:
                self._stop(name)

    def logs(self):
        return "\n".join(f"--- {n}\n{tail(os.path.join(self.tmp, n))}"
                         for n in ("bearerbox.log", "smsbox.log", "fakesmsc.out"))
