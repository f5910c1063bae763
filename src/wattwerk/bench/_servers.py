"""Private servers for benchmarks and tests of ingest through the log: a NATS JetStream cluster of
``n`` nodes (``/usr/sbin/nats-server``) and a PostgreSQL instance (``initdb`` + ``pg_ctl`` from
``/usr/lib/postgresql/15/bin``), each on free loopback ports with its own directories under a
work folder, so they can be killed and restarted without touching the machine's own servers.

    with NatsCluster(workdir / "nats", nodes=3) as cluster:   # cluster.url: all three servers
        cluster.kill(1); cluster.start(1)                        # kill -9 one node, bring it back
    with PrivatePostgres(workdir / "pg") as pg:                 # pg.url: postgresql://postgres@...
        pg.restart()                                             # immediate stop (a crash), start
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

NATS_SERVER = os.environ.get("WATTWERK_NATS_SERVER", "/usr/sbin/nats-server")
PG_BIN = Path(os.environ.get("WATTWERK_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on loopback (held open together, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(cond: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")


class NatsCluster:
    """``nodes`` JetStream servers in one cluster (one node: no cluster), each with its own store."""

    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        self.workdir = workdir
        self.nodes = nodes
        ports = free_ports(2 * nodes)
        self.client_ports, self.route_ports = ports[:nodes], ports[nodes:]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * nodes

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.client_ports)

    def argv(self, i: int) -> list[str]:
        store = self.workdir / f"n{i}"
        argv = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.client_ports[i]), "-n", f"ww-n{i}"]
        argv += ["-js", "-sd", str(store)]
        if self.nodes > 1:
            routes = ",".join(f"nats://127.0.0.1:{p}" for k, p in enumerate(self.route_ports) if k != i)
            argv += ["--cluster_name", "ww-test", "--cluster", f"nats://127.0.0.1:{self.route_ports[i]}"]
            argv += ["--routes", routes]
        return argv

    def start(self, i: int | None = None) -> None:
        """Start one node (or all), and wait until it listens."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for k in range(self.nodes) if i is None else [i]:
            log = (self.workdir / f"n{k}.log").open("ab")
            self.procs[k] = subprocess.Popen(self.argv(k), stdout=log, stderr=subprocess.STDOUT)
            log.close()
        for k in range(self.nodes) if i is None else [i]:
            _wait(lambda k=k: _listening(self.client_ports[k]), 20, f"nats node {k}")

    def kill(self, i: int) -> None:
        """``kill -9`` one node."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        self.procs[i] = None

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for k, proc in enumerate(self.procs):
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.procs[k] = None

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PrivatePostgres:
    """A PostgreSQL instance of its own (run as the ``postgres`` user when started as root)."""

    def __init__(self, workdir: Path | None = None, port: int | None = None) -> None:
        # a folder of its own: the postgres user must reach it (a root-only tmp_path it cannot)
        self.own = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="wattwerk-pg-"))
        self.data = self.workdir / "data"
        self.port = port or free_ports(1)[0]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        out = subprocess.run([*prefix, *argv], capture_output=True, check=False, timeout=120)
        if check and out.returncode:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {out.stderr.decode(errors='replace')[-800:]}")
        return out

    def init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} -c max_connections=60"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.workdir / "pg.log"),
            "-w",
            "start",
        )
        _wait(lambda: _listening(self.port), 30, "private PostgreSQL")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        """An immediate stop (no checkpoint, crash recovery on start), then start again."""
        self.stop("immediate")
        self.start()

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, WAL writer...)."""
        try:
            master = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        out = [master]
        children = Path(f"/proc/{master}/task/{master}/children")
        if children.exists():
            out += [int(c) for c in children.read_text().split()]
        return out

    def __enter__(self) -> PrivatePostgres:
        self.init()
        self.start()
        return self

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop("immediate")
        if self.own:
            shutil.rmtree(self.workdir, ignore_errors=True)
