"""Throwaway services for the fault tests: a Redis and a PostgreSQL cluster of their own, and the
app's real processes (gunicorn, Celery worker, beat) pointed at them.

Nothing here touches the shared PostgreSQL (5432) or Redis (6379): every port is a free one picked
at start, every process is started in its own process group and killed with it, every directory is
a temporary one removed at the end, and every wait is bounded.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2

ROOT = Path(__file__).resolve().parents[2]
PY = str(ROOT / ".venv" / "bin" / "python")
BIN = ROOT / ".venv" / "bin"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
DB_NAME = "familylink_faults"
QUEUE = "fl-faults-stack"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0, every: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # noqa: BLE001 - a service coming up answers with errors first
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def kill_group(proc: subprocess.Popen | None, sig: int = signal.SIGKILL) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


class Redis:
    """`redis-server` in the foreground on a free port, no persistence: stopping it loses the queue."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.workdir / "redis.log").open("a")
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for("redis to answer", self.ping, timeout=30)

    def ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        kill_group(self.proc)
        self.proc = None


class Postgres:
    """A PostgreSQL 15 cluster of its own (initdb in a temporary directory), run as `postgres`."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.datadir = workdir / "pgdata"
        self.workdir = workdir
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout)

    def init(self) -> None:
        if self.as_root:
            shutil.chown(self.workdir, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.workdir / "postgres.log"),
            "-w",
            "-t",
            "120",
            action,
            *extra,
            timeout=180,
        )

    def start(self) -> None:
        self.pg_ctl("start")

    def stop_immediately(self) -> None:
        self.pg_ctl("stop", "-m", "immediate")

    def connect(self, dbname: str = DB_NAME) -> Any:
        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, connect_timeout=10
        )
        conn.autocommit = True
        return conn

    def scalar(self, query: str, params: Any = None) -> Any:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchone()[0]
        finally:
            conn.close()

    def url(self, user: str, dbname: str = DB_NAME) -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{dbname}"


class Stack:
    """The throwaway services plus the environment the app's processes run with."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="fl-faults-"))
        os.chmod(self.tmp, 0o755)
        (self.tmp / "pg").mkdir()
        (self.tmp / "logs").mkdir()
        self.redis = Redis(self.tmp)
        self.pg = Postgres(self.tmp / "pg")
        self.procs: list[subprocess.Popen] = []
        self.web_port = free_port()

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "TEST_", "REDIS_", "CELERY_", "DJANGO_", "PYTEST"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "familylink.settings.base",
                "DEBUG": "false",
                "SECRET_KEY": "fault-tests-only-" + "x" * 40,
                "SECURE_SSL_REDIRECT": "false",
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": self.pg.url("familylink_app"),
                "DATABASE_OWNER_URL": self.pg.url("familylink_owner"),
                "DATABASE_ADMIN_URL": self.pg.url("postgres", "postgres"),
                "REDIS_URL": self.redis.url,
                "CELERY_QUEUE": QUEUE,
                "CONN_MAX_AGE": "60",
                "WEBHOOK_DISPATCH_SECONDS": "2",
                "WEBHOOK_RETRY_BASE_SECONDS": "1",
                "WEBHOOK_RETRY_MAX_SECONDS": "2",
                "WEBHOOK_QUEUE_LEASE_SECONDS": "5",
                "WEBHOOK_TIMEOUT_SECONDS": "60",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def start(self) -> None:
        self.redis.start()
        self.pg.init()
        self.pg.start()
        self.manage("ensure_database")
        self.manage("migrate", "--noinput", timeout=600)

    def manage(self, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        done = subprocess.run(
            [PY, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def shell(self, code: str, timeout: float = 300) -> Any:
        """Run `code` in `manage.py shell` on the stack; it prints one JSON line starting with RESULT=."""
        out = self.manage("shell", stdin=code, timeout=timeout)
        line = [x for x in out.splitlines() if x.startswith("RESULT=")][-1]
        return json.loads(line[len("RESULT=") :])

    def spawn(self, name: str, args: list[str], **env: str) -> subprocess.Popen:
        """Start a process in its own group; its log (`log(name)`) starts empty for each start."""
        log = (self.tmp / "logs" / f"{name}.log").open("w")
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_web(self, workers: int = 2) -> subprocess.Popen:
        proc = self.spawn(
            "web",
            [
                str(BIN / "gunicorn"),
                "familylink.wsgi",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                str(workers),
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
            ],
        )
        wait_for("gunicorn to answer", lambda: self.http("GET", "/health/")[0] in (200, 503), timeout=120)
        return proc

    def start_worker(self, concurrency: int = 1) -> subprocess.Popen:
        proc = self.spawn(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "familylink",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--queues",
                QUEUE,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        wait_for("the worker to be ready", lambda: "ready." in self.log("worker"), timeout=120)
        return proc

    def start_beat(self) -> subprocess.Popen:
        return self.spawn(
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "familylink",
                "beat",
                "--loglevel",
                "INFO",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                f"--schedule={self.tmp / 'beat-schedule'}",
                "--pidfile=",
            ],
        )

    def log(self, name: str) -> str:
        path = self.tmp / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, proc: subprocess.Popen) -> None:
        kill_group(proc, signal.SIGTERM)

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str = "",
        timeout: float = 60,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """One real HTTP request to gunicorn: (status, headers, parsed JSON or text)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.web_port}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        if token:
            request.add_header("Authorization", f"Token {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - local
                status, headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, headers, raw = exc.code, dict(exc.headers), exc.read()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return status, headers, parsed

    def close(self) -> None:
        for proc in reversed(self.procs):
            kill_group(proc)
        self.redis.stop()
        with contextlib.suppress(Exception):  # already down
            self.pg.stop_immediately()
        shutil.rmtree(self.tmp, ignore_errors=True)
