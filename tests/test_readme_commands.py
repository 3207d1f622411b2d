"""Every command line README.md shows works exactly as written.

The commands are taken from the README itself: every line of its code blocks and every inline `silobridge …`
or `.venv/bin/silobridge …`. Each runs in a shell, as a user runs it after `make demo`: in a directory laid out
like the repository (`.venv`, `var/demo.env`, a store at `var/silobridge.db` loaded by the real pipeline from
simulated hrss drops, the market and tax APIs served, the medins exchange database and the police outbox under
`var/`), after the README's own line that loads the demo keys. Placeholders get real values; an optional part
`[…]` is run both left out and given (each alternative of `[A | B]`).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipeline.config import Settings
import pipeline.runner
from pipeline.runner import run_source
from pipeline.specs import ErrorLimit, load_spec
from simulators.hrss import write_day
from simulators.market_api import MarketApi, month_records
from simulators.medins_db import generate_month
from simulators.police_outbox import write_month as write_police_month
from simulators.tax_api import TaxApi, month_cases

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
KEYS_LINE = "set -a; . var/demo.env; set +a"

# Too heavy for this test (minutes each, or a whole Airflow): which tests run what they do instead.
RUN_ELSEWHERE = {
    "make demo": "not run by the test suite (a month of five departments through Airflow takes minutes); its "
                 "parts: tests/test_simulator_hrss.py, the dag.test() runs of tests/test_dags.py, "
                 "tests/test_quality_report_task.py",
    "make test": "the test suite itself (`python -m pytest`)",
    "make airflow": "tests/test_airflow_local.py (scripts/airflow_stack.py start, LocalExecutor)",
    "make demo-airflow": "not run by the test suite; its stack is tests/test_airflow_local.py's",
    "make airflow EXECUTOR=celery": "tests/test_airflow_celery.py (scripts/airflow_stack.py --executor celery)",
    "make airflow-stop": "tests/airflow_live.py stops every stack it starts and checks nothing is left",
}

SOURCES = ("hrss", "market", "tax", "medins", "police")
WINDOWED = ("market", "tax", "medins")  # the sources `run --from/--to` is for
VALUES = {"DIR": "var/drops/hrss", "URL": "sqlite:///var/silobridge.db", "S": "hrss", "R": "unknown_code",
          "N": "5", "…": "status"}


def readme_commands(text: str) -> list[str]:
    """The command lines in code blocks (comments dropped) and the inline `silobridge …` commands, in order."""
    commands = []
    for block in re.findall(r"^```(?:sh|bash|shell)?\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`]+)`", prose):
        span = " ".join(span.split())  # an inline command may wrap onto the next line
        if re.match(r"(\.venv/bin/)?silobridge\s+\S", span):
            commands.append(span)
    return list(dict.fromkeys(commands))


def variants(command: str) -> list[str]:
    """The command with its placeholders filled in: optional parts left out and given, each source it is for."""
    groups = re.findall(r"\[([^\]]+)\]", command)
    shapes = {re.sub(r"\s*\[[^\]]+\]", "", command)}
    for pick in (0, -1):
        given = command
        for group in groups:
            given = given.replace(f"[{group}]", group.split(" | ")[pick], 1)
        shapes.add(given)
    filled = []
    for shape in sorted(shapes):
        shape = shape.replace("--from D", "--from 2026-10-01").replace("--to D", "--to 2026-10-31")
        shape = " ".join(VALUES.get(word, word) for word in shape.split(" "))
        sources = WINDOWED if "--from" in shape else SOURCES
        filled += [shape.replace("SOURCE", s) for s in sources] if " SOURCE" in shape else [shape]
    return filled


COMMANDS = readme_commands(README)
RUN_HERE = [c for c in COMMANDS if c not in RUN_ELSEWHERE and c != KEYS_LINE]


def test_the_commands_left_to_other_tests_are_in_the_readme_and_few():
    assert KEYS_LINE in COMMANDS, "the README says how to load the demo keys before the commands"
    assert set(RUN_ELSEWHERE) <= set(COMMANDS), set(RUN_ELSEWHERE) - set(COMMANDS)
    assert all(c.startswith("make ") for c in RUN_ELSEWHERE)
    assert len(RUN_HERE) >= 15


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    """A directory laid out like the repository after `make demo`, and the environment its shell has."""
    if shutil.which("sqlite3") is None:
        message = "the sqlite3 command-line shell is not installed (apt-get install sqlite3); the README's sqlite3 line needs it"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true makes it mandatory")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("demo")
    (root / ".venv").symlink_to(REPO / ".venv")
    var = root / "var"
    var.mkdir()
    # The keys as `make demo` writes them.
    keys = subprocess.run([sys.executable, str(REPO / "scripts" / "demo_keys.py")], check=True,
                          capture_output=True, text=True).stdout
    (var / "demo.env").write_text(keys)
    key = dict(line.split("=", 1) for line in keys.splitlines())
    # hrss drops with quarantines and unknown codes, loaded by the real pipeline with the demo keys.
    drops = var / "drops" / "hrss"
    for day in range(1, 4):
        write_day(drops, date(2026, 10, day), cases_per_month=300, faults={"unknown_code", "invalid_id"},
                  fault_rate=0.1)
    settings = Settings.resolve(store_url=f"sqlite:///{var / 'silobridge.db'}", pii_key=key["SILOBRIDGE_PII_KEY"],
                                quarantine_key=key["SILOBRIDGE_QUARANTINE_KEY"], folders={"hrss": drops})
    with pytest.MonkeyPatch.context() as patch:  # a few small days, bad on purpose: no error limit (lenient_specs)
        patch.setattr(pipeline.runner, "load_spec",
                      lambda name: load_spec(name).model_copy(update={"error_limit": ErrorLimit()}))
        run_source("hrss", settings)
    write_day(drops, date(2026, 10, 4), cases_per_month=120)  # left for the README's `run hrss`
    write_police_month(var / "drops" / "police", batches_per_day=1, cases_per_day=3)
    # The demo's behaviours of the exchange database (scripts/demo_airflow.py), its unknown codes left out.
    generate_month(f"sqlite:///{var / 'medins.db'}", cases_per_month=60,
                   behaviours=("bulk_seconds", "re_reports", "out_of_order", "deletions", "null_accept_time",
                               "zero_dates", "promise_units"))

    market = MarketApi(*month_records(cases_per_month=60))
    tax = TaxApi(month_cases(cases_per_month=60))
    with market.serve() as market_server, tax.serve() as tax_server:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SILOBRIDGE_", "AIRFLOW_CONN_", "VIRTUAL_ENV"))}
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if not p.startswith(str(REPO / ".venv")))
        env |= {
            "AIRFLOW_CONN_SILOBRIDGE_MARKET": _http(market_server.url, market.client_id, market.client_secret),
            "AIRFLOW_CONN_SILOBRIDGE_TAX": _http(tax_server.url, tax.app_id, tax.app_secret),
            "AIRFLOW_CONN_SILOBRIDGE_MEDINS": "sqlite:///var/medins.db",
        }
        yield root, env


def _http(url: str, login: str, password: str) -> str:
    return f"http://{login}:{password}@{url.removeprefix('http://')}"


def _shell(root: Path, env: dict, command: str, *, keys: bool = True) -> subprocess.CompletedProcess:
    if command.startswith("silobridge "):  # plain `silobridge`: after `. .venv/bin/activate`, as the README says
        env = {**env, "PATH": f"{root / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"}
    script = f"{KEYS_LINE}\n{command}" if keys else command
    return subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("command", RUN_HERE)
def test_the_readme_command_works_as_written(demo_like, command):
    root, env = demo_like
    for filled in variants(command):
        done = _shell(root, env, filled)
        said = f"`{filled}` exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        if " reconcile" in filled:
            # Documented: exit 1 when there are findings; the exit code says what the output says.
            balanced = (json.loads(done.stdout)["balanced"] if "--json" in filled
                        else "balanced:" in done.stdout and "not balanced:" not in done.stdout)
            assert done.returncode == (0 if balanced else 1), said
        else:
            assert done.returncode == 0, said
        assert "error:" not in done.stderr, said


def test_without_the_demo_keys_a_run_says_which_key_is_missing(demo_like):
    root, env = demo_like
    done = _shell(root, env, ".venv/bin/silobridge run hrss", keys=False)
    assert done.returncode == 2 and "No pseudonymization key is configured" in done.stderr

