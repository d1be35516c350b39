#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for integration tests, like tests/store/pg_cluster.cpp: Debian's
postgresql-15 binaries (scripts/bootstrap.sh installs them; PIGEON_PG_BIN overrides), `initdb`
into a temp folder with user `pigeon` and trust authentication, the server on a Unix socket in
that folder only (listen_addresses=''), never on a network port. As root, the server runs as user
`postgres` (it refuses to run as root). Use:

    with pgcluster.cluster() as pg:
        url = pg.create_database("demo")   # postgresql:///demo?host=/tmp/...&user=pigeon
"""
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile


def find_bin():
    if os.environ.get("PIGEON_PG_BIN"):
        return os.environ["PIGEON_PG_BIN"]
    found = sorted(d for d in glob.glob("/usr/lib/postgresql/*/bin")
                   if os.path.exists(os.path.join(d, "initdb")))
    if not found:
        raise RuntimeError("no PostgreSQL server found under /usr/lib/postgresql "
                           "(scripts/bootstrap.sh installs postgresql-15; or set PIGEON_PG_BIN)")
    return found[-1]


class Cluster:
    """A cluster in a temp folder; stop() (or the cluster() context manager) removes it."""

    def __init__(self):
        self.bin = find_bin()
        self.dir = tempfile.mkdtemp(prefix="pigeon-pg-")
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.started = False
        try:
            self._server("initdb", "-D", self.data, "-U", "pigeon", "--auth=trust", "-E", "UTF8",
                         "--locale=C", "--no-sync")
            self._server("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"),
                         "-w", "-t", "30", "-o",
                         f"-k {self.dir} -c listen_addresses='' -c fsync=off "
                         "-c full_page_writes=off -c max_connections=100 -c shared_buffers=32MB",
                         "start")
            self.started = True
        except Exception:
            self.stop()
            raise

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def _server(self, tool, *args):
        cmd = [os.path.join(self.bin, tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            log = os.path.join(self.dir, "server.log")
            extra = open(log).read() if os.path.exists(log) else ""
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout}{p.stderr}{extra}")

    def url(self, database):
        """The database's URL for pigeon (`database:` or --db): the socket folder as host."""
        return f"postgresql:///{database}?host={self.dir}&user=pigeon"

    def create_database(self, name):
        """Creates an empty database and returns its URL."""
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, database, sql):
        """Runs `sql` with psql and returns its unaligned, tuples-only output."""
        p = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t",
                            "-v", "ON_ERROR_STOP=1", "-h", self.dir, "-U", "pigeon",
                            "-d", database, "-c", sql],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"psql {database}: {sql}: {p.stderr}")
        return p.stdout.strip()

    def stop(self):
        if self.started:
            with contextlib.suppress(Exception):
                self._server("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def cluster():
    """A started cluster, stopped and removed on exit (a failing test included)."""
    c = Cluster()
    try:
        yield c
    finally:
        c.stop()
