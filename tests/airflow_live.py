"""A real Airflow for the tests: `scripts/airflow_stack.py start` (what `make airflow` runs) on a temporary
AIRFLOW_HOME with the repository's airflow.cfg and dags/, driven through the public REST API (v2, JWT).

Used by tests/test_airflow_local.py and tests/test_airflow_celery.py. Everything it starts is stopped
afterwards, and the stop is checked: no process carrying the stack's id may be left.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))  # scripts/ is no package: the launcher's own stop check

from airflow_stack import stack_processes  # noqa: E402

FINISHED = {"success", "failed"}
TEST_PII_KEY = "live-airflow-test-pii-key-0123456789"


def require(what: str, check) -> None:
    """Skip (fail under CI=true) when a service the test needs is missing; the message names it."""
    try:
        check()
    except Exception as exc:  # whatever the check raises says what is missing
        message = f"{what} is not available ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true makes the real-Airflow tests mandatory")
        pytest.skip(f"{message}; the real-Airflow test needs it")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveAirflow:
    """One Airflow stack started by scripts/airflow_stack.py; `with` stops it and checks nothing is left."""

    def __init__(self, tmp: Path, *, executor: str = "local", env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()):
        self.home = tmp / "airflow"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output = tmp / "airflow-stack.out"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SILOBRIDGE_"))},
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW_CONFIG": str(REPO / "airflow.cfg"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            # The tests unpause what they run; the other DAGs would only fail for lack of connections.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "SILOBRIDGE_HOME": str(tmp / "home"),
            "SILOBRIDGE_PII_KEY": TEST_PII_KEY,
            **(env or {}),
        }
        self.command = [sys.executable, str(REPO / "scripts" / "airflow_stack.py"), "start",
                        "--executor", executor, "--port", str(self.port), "--grace", "20", "--without-triggerer",
                        *args]
        self.process: subprocess.Popen | None = None
        self.stack: dict | None = None  # its stack.json: the launcher, the components' sessions
        self.token: str | None = None
        self.started = time.monotonic()
        self.ready_after: float | None = None

    # -- start and stop ------------------------------------------------------------------------------

    def __enter__(self) -> "LiveAirflow":
        self.home.mkdir(parents=True)
        with self.output.open("w") as out:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            cwd=REPO, start_new_session=True)
        try:
            self._wait_ready(timeout=240)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, *exc) -> None:
        left = self.stop()
        if exc_type is None:  # else the test's own failure is the one to report
            assert left == [], f"processes left after the stop: {left}"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output.read_text(errors="replace")
            if "Airflow is ready" in text:
                self.ready_after = time.monotonic() - self.started
                self.stack = json.loads((self.home / "var" / "airflow" / "stack.json").read_text())
                # The stop check below finds what runs: here, at least every component.
                running = {p.pid for p in stack_processes(self.stack)}
                assert set(self.stack["sessions"]) <= running, (self.stack, running)
                password = text.split("login: admin / ", 1)[1].split()[0]
                self.token = requests.post(f"{self.base}/auth/token", json={"username": "admin", "password": password},
                                           timeout=10).json()["access_token"]
                return
            if self.process.poll() is not None:
                pytest.fail(f"scripts/airflow_stack.py exited ({self.process.returncode}) before Airflow was ready:\n"
                            f"{text[-4000:]}\n{self.process_logs()}")
            time.sleep(0.5)
        pytest.fail(f"Airflow was not ready within {timeout} s:\n{self.output.read_text()[-4000:]}\n"
                    f"{self.process_logs()}")

    def stop(self) -> list[str]:
        """SIGTERM to the launcher (what Ctrl-C does); returns the processes of the stack still there."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.stack is None:
            return []
        left = stack_processes(self.stack)
        described = [f"{p.pid} {' '.join(p.cmdline())}" for p in left]
        for p in left:  # leave the machine clean even when the assertion is about to fail
            p.kill()
        return described

    def process_logs(self) -> str:
        logs = self.home / "var" / "airflow" / "logs" / "processes"
        return "\n".join(f"--- {p.name}:\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(logs.glob("*.log")))

    # -- the REST API --------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs):
        response = requests.request(method, f"{self.base}/api/v2{path}", timeout=30, **kwargs,
                                    headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"})
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def unpause(self, *dag_ids: str) -> None:
        for dag_id in dag_ids:
            self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, logical_date: datetime) -> str:
        return self.api("POST", f"/dags/{dag_id}/dagRuns",
                        json={"logical_date": logical_date.isoformat()})["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def wait(self, condition, timeout: float, what: str):
        """Poll `condition()` every half second until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := condition():
                return found
            if self.process.poll() is not None:
                pytest.fail(f"Airflow stopped while waiting for {what}:\n{self.output.read_text()[-3000:]}")
            time.sleep(0.5)
        pytest.fail(f"timed out after {timeout} s waiting for {what}; runs: "
                    f"{ {d: [(r['dag_run_id'], r['state']) for r in self.runs(d)] for d in self._dag_ids()} }\n"
                    f"{self.process_logs()}")

    def wait_all_finished(self, dag_ids: list[str], timeout: float) -> dict[str, list[dict]]:
        """Every run of these DAGs finished (none queued or running); their runs by DAG."""
        def finished():
            runs = {d: self.runs(d) for d in dag_ids}
            done = all(runs[d] and all(r["state"] in FINISHED for r in runs[d]) for d in dag_ids)
            return runs if done else None
        return self.wait(finished, timeout, f"every run of {', '.join(dag_ids)} to finish")

    def task_instance(self, dag_id: str, run_id: str, task_id: str = "load") -> dict:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def task_log(self, dag_id: str, run_id: str, task_id: str = "load", try_number: int = 1) -> list[dict]:
        """The task's log as the UI shows it: structured entries with `level` and `event`."""
        body = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
                        params={"full_content": True})
        return [entry for entry in body["content"] if isinstance(entry, dict)]

    def _dag_ids(self) -> list[str]:
        return [d["dag_id"] for d in self.api("GET", "/dags", params={"tags": "silobridge", "limit": 100})["dags"]]


def ledger(store_url: str) -> list[dict]:
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text("SELECT * FROM etl_run")).mappings()]
    finally:
        engine.dispose()


def store_rows(store_url: str, table: str, source: str | None = None) -> list[tuple]:
    """The table's rows as a user compares two stores: every column but the run's own bookkeeping."""
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            columns = [c["name"] for c in sa.inspect(conn).get_columns(table) if c["name"] not in ("run_id", "loaded_at")]
            query = f"SELECT {', '.join(columns)} FROM {table}"
            params = {}
            if source:
                query += " WHERE source_system = :source"
                params["source"] = source
            return sorted((tuple(r) for r in conn.execute(sa.text(query), params)), key=repr)
    finally:
        engine.dispose()
