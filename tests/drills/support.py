"""What the drills share: a TCP proxy the test can cut, a drill database of its own, the LINE
emulator served alone (its state in its own SQLite file, so it stays up when Samoe's database is
cut off), and Samoe served by gunicorn in a separate process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests
from werkzeug.serving import make_server

from emulator import create_emulator_app
from tests.conftest import ACCESS_TOKEN, CHANNEL_SECRET, free_port
from tests.support import ROOT, Emulator, wait_until


class Proxy:
    """A TCP proxy on 127.0.0.1 in front of host:port. `cut()` closes every connection and
    refuses new ones (accepted and closed at once, as a dead network path looks to a client);
    `restore()` lets connections through again."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.refused = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update({client, upstream})
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self.lock:
            self.open.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            sockets = list(self.open)
        for sock in sockets:
            self._drop(sock)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def with_database(url: str, name: str, port: int | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        netloc = netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit(parts._replace(path="/" + name, netloc=netloc))


class PgDatabase:
    """A database of the drill's own on the TEST_DATABASE_URL server, dropped at the end."""

    def __init__(self, prefix: str = "samoe_drill"):
        self.admin = os.environ["TEST_DATABASE_URL"].replace("postgresql+psycopg://",
                                                             "postgresql://")
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = with_database(self.admin, self.name)

    def drop(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class StandaloneEmulator(Emulator):
    """The emulator served alone (as `python -m emulator` does) on its own SQLite file."""

    def __init__(self, tmp_path: Path, webhook_url: str, webhook_timeout: float = 2.0):
        app = create_emulator_app({
            "database_url": "sqlite:///" + str(tmp_path / "emulator.db"),
            "channel_secret": CHANNEL_SECRET, "channel_access_token": ACCESS_TOKEN,
            "webhook_url": webhook_url, "webhook_timeout": webhook_timeout,
        })
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        super().__init__(self.url)
        self.base = self.url  # served alone: no /emulator prefix

    def deliver(self, **body) -> dict:
        """POST /api/events and return the answer even when the webhook failed or timed out
        (the emulator then answers 502 with an "error")."""
        response = self.http.post(self.base + "/api/events", json=body, timeout=60)
        assert response.status_code in (200, 502), response.text
        return response.json()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def samoe_env(database_url: str, emulator_url: str, **extra) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": database_url,
        "LINE_EMULATOR": "0",
        "LINE_CHANNEL_SECRET": CHANNEL_SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_API_BASE_URL": emulator_url,
        "LINE_DATA_API_BASE_URL": emulator_url,
        "WORKER_IN_PROCESS": "0",
        "SCHEDULER_INTERVAL": "0",
        "SECRET_KEY": "drill",
        "PYTHONPATH": str(ROOT),
    })
    env.pop("SAMOE_ENV", None)
    env.update(extra)
    return env


def upgrade(env: dict) -> None:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


class Gunicorn:
    """Samoe served by gunicorn (two processes, threads) on a free port."""

    def __init__(self, env: dict, log: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        # output to a file: a pipe nobody reads fills up during an outage and blocks logging
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "8", "-b",
                 f"127.0.0.1:{self.port}", "--graceful-timeout", "5", "wsgi:app"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("gunicorn exited: " + log.read_text()[-3000:])
            try:
                return requests.get(self.url + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout=30, interval=0.2)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.log.read_text()


def worker_process(env: dict, log: Path, *args: str) -> subprocess.Popen:
    """`flask --app wsgi worker ARGS`, its output to a file (see Gunicorn)."""
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", *args],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
