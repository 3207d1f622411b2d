"""`make airflow`: a real Airflow 3 for this repository, in the foreground until Ctrl-C or `make airflow-stop`.

    .venv/bin/python scripts/airflow_stack.py start [--executor local|celery] [--workers 2] [--port 8080]
                                                    [--demo 2026-10]
    .venv/bin/python scripts/airflow_stack.py stop

`start` migrates Airflow's metadata database, starts api-server, scheduler,
dag-processor and triggerer (with --executor celery also Celery workers) as
separate processes sharing one environment, creates one pool of one slot per
source (`silobridge_<source>`: at most one run of a source at a time, whatever
started it), waits until the processes are healthy and the DAGs parsed, and
prints the UI's address and login. Ctrl-C, SIGTERM or `stop` ends every process it
started, their children included: each component starts a session of its
own, which var/airflow/stack.json records, and the launcher is the subreaper
of whatever they leave behind; that is how `stop` and the tests find them.

Settings come from the environment (the Makefile sources var/airflow.env and
var/demo.env): the shared secrets AIRFLOW__API_AUTH__JWT_SECRET and
AIRFLOW__CORE__FERNET_KEY are required; connections are AIRFLOW_CONN_<ID>
variables or connections in Airflow's metadata database. --executor local uses
airflow.cfg as it is (LocalExecutor, SQLite under var/airflow/); --executor
celery sets CeleryExecutor with PostgreSQL as the metadata database, Redis as
the broker and the store on PostgreSQL (see --metadata-db, --broker, --store;
the databases are created when missing). New DAGs start unpaused unless
AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION says otherwise.

--demo MONTH feeds it the demo's simulated departments (as `make demo` does):
police outbox and medins exchange database under SILOBRIDGE_HOME, the hrss
drops the Makefile wrote there, and the market and tax APIs served from this
process for as long as Airflow runs, their connections handed to Airflow.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil

REPO = Path(__file__).resolve().parent.parent
MARK = "SILOBRIDGE_AIRFLOW_STACK"
SHARED_SECRETS = ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY")
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
DEFAULTS = {
    "metadata_db": f"{PG_SERVER}/silobridge_airflow",
    "broker": "redis://127.0.0.1:6379/0",
    "store": "postgresql://postgres@127.0.0.1:5432/silobridge",
}
READY_TIMEOUT = 300  # seconds: a cold start on 2 busy cores takes well under a minute


class StackError(RuntimeError):
    """Airflow cannot be started or stopped as asked; the message says why and what to do."""


def state_dir() -> Path:
    """Where airflow.cfg keeps Airflow's state: ${AIRFLOW_HOME}/var/airflow."""
    home = os.environ.get("AIRFLOW_HOME")
    if not home:
        raise StackError("AIRFLOW_HOME is not set: run `make airflow`, or export AIRFLOW_HOME=<the repository>")
    return Path(home) / "var" / "airflow"


# --- the environment every process shares --------------------------------------------


def stack_env(args: argparse.Namespace, stack_id: str) -> dict[str, str]:
    env = dict(os.environ)
    missing = [name for name in SHARED_SECRETS if not env.get(name)]
    if missing:
        raise StackError(f"{' and '.join(missing)} must be set and shared by every Airflow process: "
                         "`make airflow` generates them once into var/airflow.env "
                         "(`python scripts/demo_keys.py --airflow`)")
    env[MARK] = stack_id
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env["AIRFLOW__API__PORT"] = str(args.port)
    # The task processes reach the API server here; its default assumes port 8080.
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{args.port}/execution/"
    if args.executor == "celery":
        env["AIRFLOW__CORE__EXECUTOR"] = "CeleryExecutor"
        env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", args.metadata_db)
        if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://"):
            # Airflow derives its async URL as postgresql+asyncpg://, a driver not installed here; psycopg 3
            # serves both.
            env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        env.setdefault("AIRFLOW__CELERY__BROKER_URL", args.broker)
        env.setdefault("AIRFLOW_CONN_SILOBRIDGE_STORE", args.store)
        # airflow.cfg runs one task at a time for the SQLite store; on PostgreSQL sources go in parallel.
        env.setdefault("AIRFLOW__CORE__PARALLELISM", "8")
    else:
        env["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    return env


def _ensure_postgres_database(url: str) -> None:
    """CREATE DATABASE when a PostgreSQL URL names one that does not exist yet."""
    import sqlalchemy as sa

    if not url.startswith("postgresql"):
        return
    target = sa.engine.make_url(url)
    if not target.drivername.startswith("postgresql+"):
        target = target.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                  {"n": target.database}).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{target.database}"')
    except sa.exc.OperationalError as exc:
        raise StackError(f"PostgreSQL at {target.host}:{target.port} is not reachable "
                         f"({str(exc).splitlines()[0]}); start it or point the setting at another server") from exc
    finally:
        admin.dispose()


def _check_reachable(url: str, what: str) -> None:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout=3).close()
    except OSError as exc:
        raise StackError(f"{what} at {parts.hostname}:{parts.port} is not reachable ({exc}); start it "
                         "(e.g. `redis-server --daemonize yes --bind 127.0.0.1`) or set AIRFLOW__CELERY__BROKER_URL")


# --- processes --------------------------------------------------------------------------


@dataclass
class Stack:
    env: dict[str, str]
    logs: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def airflow(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).with_name("airflow")), *args]

    def run(self, name: str, *args: str) -> None:
        """A one-off Airflow command (db migrate); its output goes to its log."""
        log = self.logs / f"{name}.log"
        with log.open("w") as out:
            done = subprocess.run(self.airflow(*args), env=self.env, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode:
            raise StackError(f"`airflow {' '.join(args)}` failed (exit {done.returncode}):\n{_tail(log)}")

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("w")
        # A session of its own: Ctrl-C reaches this launcher only, which stops the processes in order.
        self.procs[name] = subprocess.Popen(self.airflow(*args), env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def exited(self) -> str | None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return f"{name} exited (code {proc.returncode}):\n{_tail(self.logs / f'{name}.log')}"
        return None


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _become_subreaper() -> None:
    """Orphans of our processes (a task whose supervisor died) become our children, not init's: none escapes."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise StackError(f"prctl(PR_SET_CHILD_SUBREAPER) failed: {os.strerror(ctypes.get_errno())}")


def stack_processes(info: dict) -> list[psutil.Process]:
    """Every process, other than this one, of the stack that `info` (its stack.json) describes.

    Each component starts a session of its own, which its children keep (task processes
    only take a process group of their own); the environment variable SILOBRIDGE_AIRFLOW_STACK
    also finds a process that left the session, unless it rewrote its environment the way
    setproctitle does (the API server, the executors' workers).
    """
    sessions = set(info.get("sessions", ()))
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(proc.pid) in sessions or proc.environ().get(MARK) == info["id"]:
                found.append(proc)
    return found


def _say(message: str, stream=None) -> None:
    """Print, even when nobody reads any more (a closed terminal or pipe must not stop a shutdown)."""
    with contextlib.suppress(OSError):
        print(message, file=stream or sys.stdout, flush=True)


def terminate(procs: list[psutil.Process], grace: float) -> list[psutil.Process]:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL what is left; returns those that had to be killed."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return alive


def shut_down(stack: Stack, info: dict, grace: float) -> None:
    """The components first, so they stop their own children in order; then whatever is left of the stack."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    components = [psutil.Process(p.pid) for p in stack.procs.values() if p.poll() is None]
    _say(f"stopping {len(components)} Airflow processes …")
    terminate(components, grace)
    for proc in stack.procs.values():
        proc.poll()
    left = {p.pid: p for p in [*psutil.Process().children(recursive=True), *stack_processes(info)]}
    killed = terminate([p for p in left.values() if _alive(p)], 5)
    _reap()
    if killed:
        _say(f"killed {len(killed)} processes that did not stop on SIGTERM")


def _alive(proc: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return proc.status() != psutil.STATUS_ZOMBIE
    return False


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


# --- readiness -------------------------------------------------------------------------


def _get(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def login(base: str, password_file: Path) -> tuple[str, str]:
    """The admin's password (SimpleAuthManager writes it once into var/airflow/) and a token for the REST API."""
    password = json.loads(password_file.read_text())["admin"]
    request = urllib.request.Request(f"{base}/auth/token", method="POST",
                                     data=json.dumps({"username": "admin", "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return password, json.load(response)["access_token"]


def create_pools(base: str, token: str, pools: dict[str, dict]) -> None:
    """The pools through the REST API (cheaper than another `airflow pools set` process per pool)."""
    entities = [{"name": name, **fields} for name, fields in pools.items()]
    body = {"actions": [{"action": "create", "entities": entities, "action_on_existence": "overwrite"}]}
    request = urllib.request.Request(f"{base}/api/v2/pools", method="PATCH", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        errors = json.load(response).get("create", {}).get("errors")
    if errors:
        raise StackError(f"could not create the pools {', '.join(pools)}: {errors}")


def wait_until_ready(stack: Stack, base: str, password_file: Path, pools: dict[str, dict], dag_ids: set[str],
                     workers: int, triggerer: bool) -> str:
    """Pools created, healthy components, every DAG parsed, every Celery worker ready; the admin's password."""
    deadline = time.monotonic() + READY_TIMEOUT
    waiting, pools_created = "the API server", False
    while time.monotonic() < deadline:
        if problem := stack.exited():
            raise StackError(problem)
        try:
            password, token = login(base, password_file)
            if not pools_created:
                create_pools(base, token, pools)
                pools_created = True
            health = _get(f"{base}/api/v2/monitor/health")
            if not triggerer:
                health.pop("triggerer", None)
            unhealthy = [k for k, v in health.items() if v and v.get("status") != "healthy"]
            parsed = {d["dag_id"] for d in _get(f"{base}/api/v2/dags?tags=silobridge&limit=100", token)["dags"]}
            ready = [n for n in range(1, workers + 1) if " ready." in _tail(stack.logs / f"worker-{n}.log", 400)]
            if unhealthy:
                waiting = ", ".join(unhealthy)
            elif not dag_ids <= parsed:
                waiting = f"the DAGs {', '.join(sorted(dag_ids - parsed))} to be parsed"
            elif len(ready) < workers:
                waiting = "the Celery workers"
            else:
                return password
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            pass
        time.sleep(1)
    raise StackError(f"Airflow did not become ready within {READY_TIMEOUT} s (waiting for {waiting}); "
                     f"see {stack.logs}")


# --- start / stop ------------------------------------------------------------------------


def start(args: argparse.Namespace) -> int:
    from pipeline.specs import load_specs

    state = state_dir()
    logs = state / "logs" / "processes"
    logs.mkdir(parents=True, exist_ok=True)
    pid_file = state / "stack.json"
    if pid_file.exists() and _is_launcher(json.loads(pid_file.read_text())["pid"]):
        raise StackError(f"an Airflow started from here is already running ({pid_file}); stop it first "
                         "with `make airflow-stop`")
    began = time.monotonic()
    stack_id = secrets.token_hex(8)
    env = stack_env(args, stack_id)
    os.environ.update(env)  # this process reads the same configuration (password file, ports)
    from airflow.configuration import conf

    if args.executor == "celery":
        _check_reachable(conf.get("celery", "broker_url"), "Redis")
        _ensure_postgres_database(conf.get("database", "sql_alchemy_conn"))
        _ensure_postgres_database(env["AIRFLOW_CONN_SILOBRIDGE_STORE"])
    _become_subreaper()
    specs = load_specs()
    stack = Stack(env=env, logs=logs)
    info = {"pid": os.getpid(), "id": stack_id, "port": args.port, "sessions": []}
    pid_file.write_text(json.dumps(info))
    with contextlib.ExitStack() as servers:
        try:
            _install_stop_signals()
            if args.demo:
                _feed_demo(args.demo, args.seed, servers, stack)
            _say(f"migrating Airflow's metadata database ({conf.get('database', 'sql_alchemy_conn')}) …")
            stack.run("db-migrate", "db", "migrate")
            for name, command in components(args):
                stack.start(name, *command)
                info["sessions"].append(stack.procs[name].pid)  # start_new_session: its pid is its session's id
            pid_file.write_text(json.dumps(info))
            base = f"http://127.0.0.1:{args.port}"
            password_file = Path(conf.get("core", "simple_auth_manager_passwords_file"))
            dag_ids = {f"{name}_sync" for name in specs} | {"quality_report"}
            password = wait_until_ready(stack, base, password_file, source_pools(specs), dag_ids,
                                        args.workers if args.executor == "celery" else 0, not args.without_triggerer)
            _banner(base, password, conf, stack, env, time.monotonic() - began)
            while not (problem := stack.exited()):
                time.sleep(1)
            _say(f"error: {problem}", sys.stderr)
            return 1
        except _Stop:
            return 0
        except StackError as exc:
            _say(f"error: {exc}", sys.stderr)
            return 1
        finally:
            shut_down(stack, info, args.grace)
            pid_file.unlink(missing_ok=True)
            _say("Airflow stopped.")


class _Stop(BaseException):
    """Ctrl-C, SIGTERM, a closed terminal: stop everything (a BaseException so no `except` swallows it)."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _install_stop_signals() -> None:
    def stop(signum, frame):
        raise _Stop()

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)


def components(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    # All processes share one machine and one log folder: the API server reads task logs from the files,
    # so no process serves them over HTTP (nor competes for the log server's port).
    found = [("api-server", ["api-server"]), ("scheduler", ["scheduler", "--skip-serve-logs"]),
             ("dag-processor", ["dag-processor"])]
    if not args.without_triggerer:
        found.append(("triggerer", ["triggerer", "--skip-serve-logs"]))
    if args.executor == "celery":
        found += [(f"worker-{n}", ["celery", "worker", "--concurrency", str(args.concurrency),
                                   "--celery-hostname", f"silobridge-{n}@%h", "--skip-serve-logs"])
                  for n in range(1, args.workers + 1)]
    return found


def source_pools(specs) -> dict[str, dict]:
    """One pool of one slot per source: a source's runs queue for it, whether scheduled, manual or backfilled."""
    return {f"silobridge_{name}": {"slots": 1, "include_deferred": False,
                                   "description": f"one {name} run at a time (silobridge)"} for name in specs}


def _feed_demo(month: str, seed: int, servers: contextlib.ExitStack, stack: Stack) -> None:
    import demo_airflow

    home = Path(os.environ.get("SILOBRIDGE_HOME") or REPO / "var").resolve()
    try:
        for source in demo_airflow.SOURCES:
            _say(f"{source}: {demo_airflow.simulate(source, home, month, seed, servers)}")
    except demo_airflow.DemoError as exc:
        raise StackError(str(exc)) from exc
    # The simulators handed their connections over as AIRFLOW_CONN_* variables of this process.
    stack.env.update({k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CONN_")})


def _banner(base: str, password: str, conf, stack: Stack, env: dict[str, str], seconds: float) -> None:
    store = env.get("AIRFLOW_CONN_SILOBRIDGE_STORE") or f"sqlite:///{Path(env.get('SILOBRIDGE_HOME', REPO / 'var')) / 'silobridge.db'}"
    paused = env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"]
    _say(f"""
Airflow is ready: {base}   login: admin / {password}   (started in {seconds:.0f} s)
  executor {conf.get('core', 'executor')}, metadata database {_safe(conf.get('database', 'sql_alchemy_conn'))}
  store {_safe(store)}; pools silobridge_<source> (one slot each)
  DAGs are {'paused' if paused.lower() == 'true' else 'unpaused'} when first parsed; to unpause them later:
    airflow dags unpause --treat-dag-id-as-regex --yes '^(.*_sync|quality_report)$'
  task logs: in the UI (a task's Logs tab), or {conf.get('logging', 'base_log_folder')}/dag_id=…
  process logs: {stack.logs}/*.log
Stop with Ctrl-C or `make airflow-stop`.""")


def _safe(url: str) -> str:
    """A URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def stop(args: argparse.Namespace) -> int:
    pid_file = state_dir() / "stack.json"
    if not pid_file.exists():
        print("no Airflow started from here is running")
        return 0
    info = json.loads(pid_file.read_text())
    if _is_launcher(info["pid"]):
        launcher = psutil.Process(info["pid"])
        launcher.terminate()  # it stops what it started, in order
        with contextlib.suppress(psutil.Error):
            launcher.wait(timeout=args.grace + 30)
    # Whatever the launcher could not stop (it was killed, say) is still found by its session.
    left = stack_processes(info)
    if left:
        print(f"stopping {len(left)} processes left behind", flush=True)
        terminate(left, args.grace)
    pid_file.unlink(missing_ok=True)
    print("Airflow stopped.")
    return 0


def _is_launcher(pid: int) -> bool:
    """Whether `pid` is (still) a process of this script, not another that took its number."""
    with contextlib.suppress(psutil.Error):
        return any(Path(part).name == Path(__file__).name for part in psutil.Process(pid).cmdline())
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("start", help="start Airflow in the foreground")
    up.add_argument("--executor", choices=("local", "celery"), default="local")
    up.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    up.add_argument("--concurrency", type=int, default=1, help="tasks at once per Celery worker (default 1)")
    up.add_argument("--port", type=int, default=8080, help="the API server's port (default 8080)")
    up.add_argument("--metadata-db", default=DEFAULTS["metadata_db"],
                    help="celery: Airflow's metadata database, unless AIRFLOW__DATABASE__SQL_ALCHEMY_CONN is set")
    up.add_argument("--broker", default=DEFAULTS["broker"],
                    help="celery: the broker, unless AIRFLOW__CELERY__BROKER_URL is set")
    up.add_argument("--store", default=DEFAULTS["store"],
                    help="celery: the store, unless AIRFLOW_CONN_SILOBRIDGE_STORE is set")
    up.add_argument("--demo", metavar="MONTH", help="feed it the simulated departments of MONTH, e.g. 2026-10")
    up.add_argument("--seed", type=int, default=7, help="seed of the simulated departments (default 7)")
    up.add_argument("--grace", type=float, default=30, help="seconds to wait for a clean stop before killing")
    up.add_argument("--without-triggerer", action="store_true",
                    help="no triggerer (silobridge has no deferrable task; the tests save a process)")
    down = sub.add_parser("stop", help="stop the Airflow started from this repository")
    down.add_argument("--grace", type=float, default=30)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    try:
        return start(args) if args.command == "start" else stop(args)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
