# silobridge — `make demo` runs a simulated month through Airflow on the embedded
# store; `make test` runs the whole suite; `make airflow` runs a real Airflow
# (`make demo-airflow`: fed by the simulated departments). All set up what they need first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_MONTH ?= 2026-10
SIZE ?= default
# make airflow EXECUTOR=celery: CeleryExecutor, PostgreSQL metadata DB and store, Redis broker (see README).
EXECUTOR ?= local
AIRFLOW_PORT ?= 8080

export AIRFLOW_HOME := $(CURDIR)
export SILOBRIDGE_HOME := $(CURDIR)/var
# Airflow must not try to reach the internet or load its examples.
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: demo test bench install clean-var dictionary airflow demo-airflow airflow-stop

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "silobridge needs Python 3.11; run make PYTHON=python3.11 ...")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Keys for the demo only: generated once on this machine into var/ (git-ignored), never in the code.
var/demo.env: | $(STAMP)
	mkdir -p var
	$(PY) scripts/demo_keys.py > $@

# The secrets every process of the Airflow deployment shares: generated once, never in the code.
var/airflow.env: | $(STAMP)
	mkdir -p var
	$(PY) scripts/demo_keys.py --airflow > $@

HRSS_DEMO_DROPS = $(PY) -m simulators.hrss --out var/drops/hrss --month $(DEMO_MONTH) --seed 7 --fault missing_ok bad_trailer wrong_field_count undecodable invalid_id invalid_uscc unknown_code bad_date redelivery --fault-rate 0.005

demo: $(STAMP) var/demo.env
	set -a && . ./var/demo.env && set +a && \
	$(HRSS_DEMO_DROPS) && \
	$(PY) scripts/demo_airflow.py --month $(DEMO_MONTH) --source all --seed 7 && \
	$(PY) -c 'from pipeline.config import Settings; from pipeline.reports import refresh; [print(f"{k}: {v}") for k, v in refresh(Settings.resolve()).items()]'

# A real Airflow (api-server, scheduler, dag-processor, triggerer) in the foreground: Ctrl-C or
# `make airflow-stop` ends every process it started. Connections: AIRFLOW_CONN_* in the environment
# (or lines in var/airflow.env), or `airflow connections add` (kept in Airflow's metadata DB).
airflow: $(STAMP) var/demo.env var/airflow.env
	set -a && . ./var/demo.env && . ./var/airflow.env && set +a && \
	$(PY) scripts/airflow_stack.py start --executor $(EXECUTOR) --port $(AIRFLOW_PORT)

# The same, fed by the demo's simulated departments of DEMO_MONTH (drops, exchange DB, APIs under var/).
demo-airflow: $(STAMP) var/demo.env var/airflow.env
	set -a && . ./var/demo.env && . ./var/airflow.env && set +a && \
	$(HRSS_DEMO_DROPS) && \
	$(PY) scripts/airflow_stack.py start --executor $(EXECUTOR) --port $(AIRFLOW_PORT) --demo $(DEMO_MONTH)

airflow-stop: $(STAMP)
	$(PY) scripts/airflow_stack.py stop

# Tests run on TEST_WORKERS processes (pytest-xdist), a test file per process at a time.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# Every benchmark, then docs/performance.md; SIZE=small for a quick run, SIZE=full adds 10⁷ rows (see benchmarks/run_all.py).
bench: $(STAMP)
	$(PY) benchmarks/run_all.py --size $(SIZE)

dictionary: $(STAMP)
	$(PY) -m schemas.dictionary

clean-var:
	rm -rf var
