#!/usr/bin/env python3
"""A throwaway PostgreSQL cluster for integration tests: scripts/pg_test_cluster.sh (the same one
the C++ tests use, tests/store/pg_cluster.hpp) starts it in a temp folder, user `pigeon` with trust
authentication, the server on a Unix socket in that folder only (listen_addresses=''), never on a
network port; as user `postgres` under root. Use:

    with pgcluster.cluster() as pg:
        url = pg.create_database("demo")   # postgresql:///demo?host=/tmp/...&user=pigeon
"""
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "pg_test_cluster.sh")


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
        self.started = False
        p = subprocess.run([SCRIPT, "start", self.dir], capture_output=True, text=True,
                           timeout=120)
        if p.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError(f"{SCRIPT} start {self.dir} exited {p.returncode}\n{p.stderr}")
        self.started = True

    @property
    def data(self):
        return os.path.join(self.dir, "data")

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
                subprocess.run([SCRIPT, "stop", self.dir], capture_output=True, timeout=120)
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
