"""Throwaway PostgreSQL and Milvus Lite servers for the tests and bench/: started here, stopped here.

PostgreSQL comes from the OS (Debian's `postgresql` package: `.ci/run` installs it when missing); it runs
as an unprivileged user (`nobody` when we are root, since PostgreSQL refuses root) in a temporary folder,
on a free loopback port. Milvus is the `milvus-lite server` of the milvus-lite package: a separate process
speaking Milvus's gRPC protocol to the real pymilvus client.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

READY_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path:
    """The folder of initdb/pg_ctl: on PATH, or the newest Debian install."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (initdb not found): `apt-get install postgresql`")
    return Path(versions[-1]).parent


def _wait_for_port(port: int, process: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} not ready: {log.read_text(errors='replace')[-2000:]}")


@dataclass
class Postgres:
    """A PostgreSQL cluster in its own folder; `database()` makes a new empty database and gives its URL."""

    folder: Path
    port: int
    bin: Path
    user: str | None
    created: int = field(default=0)

    @property
    def admin_url(self) -> str:
        return f"postgresql://citeqa@127.0.0.1:{self.port}/postgres"

    def url(self, name: str) -> str:
        return f"postgresql://citeqa@127.0.0.1:{self.port}/{name}"

    def database(self, prefix: str = "t") -> str:
        self.created += 1
        name = f"{prefix}_{os.getpid()}_{self.created}"
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]  # our own name
        return self.url(name)

    def stop(self) -> None:
        _run([str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"],
             self.user, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _run(command: list[str], user: str | None, check: bool = True) -> None:
    result = subprocess.run(command, user=user, capture_output=True, text=True, check=False,
                            env={**os.environ, "LC_ALL": "C.UTF-8"})
    if check and result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stdout[-1000:]}{result.stderr[-2000:]}")


def start_postgres() -> Postgres:
    """initdb and start a cluster on a free port (trust auth on loopback only, fsync off: it is thrown away)."""
    user = "nobody" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="citeqa-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    binaries = postgres_bin()
    port = free_port()
    _run([str(binaries / "initdb"), "-D", str(folder / "data"), "-U", "citeqa", "--auth=trust", "-E", "UTF8",
          "--locale=C.UTF-8", "--no-sync"], user)
    options = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "
               "-c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB")
    _run([str(binaries / "pg_ctl"), "-D", str(folder / "data"), "-o", options, "-l", str(folder / "server.log"),
          "-w", "-t", str(READY_SECONDS), "start"], user)
    return Postgres(folder, port, binaries, user)


@dataclass
class Milvus:
    """A `milvus-lite server` process over its own data folder."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.kill()  # its data is thrown away: no need for its graceful drain
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_milvus() -> Milvus:
    folder = Path(tempfile.mkdtemp(prefix="citeqa-milvus-"))
    port = free_port()
    log = folder / "server.log"
    command = Path(sys.executable).with_name("milvus-lite")
    process = subprocess.Popen([str(command), "server", "--data-dir", str(folder / "data"), "--host", "127.0.0.1",
                                "--port", str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process, log)
    except BaseException:
        process.kill()
        raise
    return Milvus(folder, port, process)


if __name__ == "__main__":  # `python tests/servers.py`: both servers until Ctrl-C, for trying citeqa by hand
    postgres, milvus = start_postgres(), start_milvus()
    print(f"CITEQA_DATABASE_URL={postgres.database('citeqa')}\nCITEQA_MILVUS_URI={milvus.uri}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        milvus.stop()
        postgres.stop()
