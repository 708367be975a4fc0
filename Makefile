# dancu: two commands for a new user, `make demo` and `make test`.
# Everything lives in this folder: the environment (.venv, from uv.lock), a
# pinned uv (.uv-bootstrap, installed from wheels whose sha256 hashes are in
# scripts/uv-bootstrap.txt), Airflow's home with its SQLite DB (.airflow) and
# the demo warehouse (warehouse/). `make setup` installs the production set
# (no dev tools, no generator-only packages); `make test` and `make lint` add
# the dev group. The demo runs with the public demo keys (data/demo-keys/).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
UV := .uv-bootstrap/bin/uv
VENV := .venv
BIN := $(VENV)/bin

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export PYTHONPATH := $(CURDIR)

AIRFLOW_PORT ?= 8080
REVIEW_PORT ?= 8765

.PHONY: setup setup-dev demo test lint audit airflow airflow-stop cluster cluster-stop cluster-status clean review browser screenshots messages

setup: $(VENV)/.synced

setup-dev: $(VENV)/.synced-dev

$(UV): scripts/uv-bootstrap.txt
	$(PYTHON) -m venv .uv-bootstrap
	.uv-bootstrap/bin/python -m pip install --quiet --require-hashes --only-binary=:all: --no-deps -r scripts/uv-bootstrap.txt
	.uv-bootstrap/bin/uv --version | grep -q "uv $(UV_VERSION)"

# --compile-bytecode: every module's .pyc written once here. Without it each process
# (a dancu run, an Airflow task) compiles what it imports again whenever bytecode is
# not written back (PYTHONDONTWRITEBYTECODE, a read-only venv): Great Expectations
# alone took ~14 s of compiling per process.
# Production: no dev group, no generator-only group (--inexact keeps a developer's dev tools);
# the cluster group (Airflow on Celery, `make cluster`) is in.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --no-dev --inexact --compile-bytecode --python $(PYTHON)
	touch $@

$(VENV)/.synced-dev: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@ $(VENV)/.synced

demo: setup
	umask 077 && $(BIN)/python -m dancu.demo --inbox data/samples/inbox --warehouse warehouse

test: setup-dev s3-env browser
	$(BIN)/python -m pytest

# Debian's chromium for the browser tests (apt-installed when missing and root).
browser:
	@scripts/ensure-chromium.sh

# The browser tests again, copying their screenshots into docs/screenshots/ (for the README).
screenshots: setup-dev browser
	DANCU_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -m browser -q

# The review workspace on 127.0.0.1:$(REVIEW_PORT) for the warehouse of `make demo`.
# The first time, it asks for a password for you (your OS user name); add other
# reviewers with `$(BIN)/dancu review user add NAME --users .review/users`.
review: setup
	@test -s .review/users || $(BIN)/dancu review user add "$$(id -un)" --users .review/users
	$(BIN)/dancu review serve --warehouse warehouse --users .review/users \
		--secret-file .review/session.key --port $(REVIEW_PORT) --demo

# Extract the pages' messages and merge them into the Vietnamese catalogs (then translate).
messages: setup
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ --no-location -o .review-quality.pot quality
	$(BIN)/pybabel update -N -l vi -D report -i .review-quality.pot -d quality/locale
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ --no-location -o .review-workspace.pot dancu/workspace
	$(BIN)/pybabel update -N -l vi -D workspace -i .review-workspace.pot -d dancu/workspace/locale
	rm -f .review-quality.pot .review-workspace.pot

lint: setup-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy domain pipelines matching quality synth dancu dags

# Known vulnerabilities in the production set (OSV); says NOT RUN where OSV cannot be reached.
audit: | $(UV)
	bash scripts/audit.sh $(UV)

# Airflow UI on 127.0.0.1:$(AIRFLOW_PORT), in its own process group (stop it with `make airflow-stop`).
airflow: setup
	@if test -f $(AIRFLOW_HOME)/standalone.pid && kill -0 "$$(cat $(AIRFLOW_HOME)/standalone.pid)" 2>/dev/null; then \
		echo "Airflow is already running (make airflow-stop first)"; exit 1; fi
	$(BIN)/airflow db migrate > /dev/null
	AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	AIRFLOW__CORE__PARALLELISM=4 \
	PATH="$(CURDIR)/$(BIN):$$PATH" setsid $(BIN)/airflow standalone > $(AIRFLOW_HOME)/standalone.log 2>&1 & echo $$! > $(AIRFLOW_HOME)/standalone.pid
	@echo "Airflow starting on http://127.0.0.1:$(AIRFLOW_PORT) (about 40 s); log: $(AIRFLOW_HOME)/standalone.log"
	@echo "User: admin; password: $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated"
	@echo "Stop it with: make airflow-stop"

airflow-stop:
	@if test -f $(AIRFLOW_HOME)/standalone.pid; then \
		pkill -TERM -g "$$(cat $(AIRFLOW_HOME)/standalone.pid)"; rm $(AIRFLOW_HOME)/standalone.pid; \
		echo "stopped the Airflow process group"; \
	else echo "not running"; fi

# Airflow on CeleryExecutor: PostgreSQL and Redis from Debian's packages (installed when
# missing, as root), api-server, scheduler, DAG processor and $(CLUSTER_WORKERS) Celery
# workers, all on 127.0.0.1 (free ports), state in $(CLUSTER_DIR); see scripts/cluster.sh.
CLUSTER_DIR ?= $(CURDIR)/.cluster
CLUSTER_WORKERS ?= 2

cluster: setup
	DANCU_REPO=$(CURDIR) CLUSTER_DIR=$(CLUSTER_DIR) CLUSTER_WORKERS=$(CLUSTER_WORKERS) scripts/cluster.sh start

cluster-stop:
	DANCU_REPO=$(CURDIR) CLUSTER_DIR=$(CLUSTER_DIR) scripts/cluster.sh stop

cluster-status:
	DANCU_REPO=$(CURDIR) CLUSTER_DIR=$(CLUSTER_DIR) scripts/cluster.sh status

clean:
	rm -rf $(VENV) .uv-bootstrap .airflow warehouse .review

# Benchmark-only environment with Splink (bench/vs_splink.py); not a project dependency.
BENCH_VENV := .bench-venv

.PHONY: bench-env
bench-env: $(BENCH_VENV)/.synced

$(BENCH_VENV)/.synced: bench/requirements-splink.txt | $(UV)
	$(UV) venv --allow-existing --python $(PYTHON) $(BENCH_VENV)
	$(UV) pip install --compile-bytecode --python $(BENCH_VENV)/bin/python -r bench/requirements-splink.txt
	touch $@

# A local S3 server (moto) for the object-storage test, in its own venv: not a project dependency.
S3_VENV := .s3-venv

.PHONY: s3-env
s3-env: $(S3_VENV)/.synced

$(S3_VENV)/.synced: scripts/requirements-s3.txt | $(UV)
	$(UV) venv --allow-existing --python $(PYTHON) $(S3_VENV)
	$(UV) pip install --compile-bytecode --python $(S3_VENV)/bin/python -r scripts/requirements-s3.txt
	touch $@
