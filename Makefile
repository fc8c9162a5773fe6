# The local stack and its tests. Run as root on a disposable Debian 12 machine:
# `make up` installs packages, creates users and writes /etc/slurm.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON := /usr/bin/python3
VENV := .venv
STACKCTL := /usr/local/sbin/slurm-interactive-stack
PYTEST_ARGS ?=
# Options for the play of make up (for example -e slurm_cgroups=false in a container).
ANSIBLE_ARGS ?=

.PHONY: help up down test test-suite test-deps unit check lint bootstrap status browser-deps bench compose-test fresh-test site-test docker-engine release-locks check-stack

help:
	@echo "make up      deploy the local stack (Slurm, accounting, the hub, a release) and start the hub"
	@echo "make test    install the test dependencies, bring the stack up, run the whole suite"
	@echo "make check  the lint and the unit tests, in a few minutes: no stack, no root (Python 3.11 and Node)"
	@echo "make unit    only the unit tests (no stack needed)"
	@echo "make status  which daemons of the local stack run"
	@echo "make check-stack  check every part of the deployed stack, then start, reach and stop one real session"
	@echo "make bench   spawn, stop, Slurm load and form latency against stock batchspawner (benchmarks/)"
	@echo "make compose-test  build docker-compose.yml's stack, start it, test it, take it down"
	@echo "make fresh-test  make up twice on a bare Debian 12 container: from nothing, then changing nothing"
	@echo "make site-test  site.yml twice onto six bare hosts over ssh, then a session through https"
	@echo "make down    cancel every job and stop every daemon of the local stack"
	@echo "make release-locks  pin every package of each release again from its inputs (files/NAME/*.in)"

bootstrap:
	@if [ "$$(id -u)" != 0 ]; then echo "make up must run as root (it installs packages and users)"; exit 1; fi
	@if ! command -v ansible-playbook >/dev/null || ! [ -x $(PYTHON) ] || ! $(PYTHON) -m pip --version >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		echo "== installing ansible-core, pip and venv from the distribution"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ansible-core python3-pip python3-venv; \
	fi

up: bootstrap
	cd ansible && ANSIBLE_CONFIG=ansible.cfg ansible-playbook -i inventory/local.yml site.yml $(ANSIBLE_ARGS)
	@$(MAKE) --no-print-directory check-stack
	@echo
	@echo "The hub is up at http://127.0.0.1:8000"
	@echo "Demo users:  alice / alice-demo  (accounts proj-a, proj-b; may use reservation 'course')"
	@echo "             bob   / bob-demo    (account proj-b)"
	@echo "             ops   / ops-demo    (hub admin, no Slurm account: every session at /hub/sessions)"

status:
	@$(STACKCTL) status

# munge, the controller, accounting, every node, the hub's view of other users' jobs, then one real
# session of a demo user started through the hub, reached through the proxy and stopped (jupyterhub_slurm_interactive.ops.stack_check).
HUB_PYTHON := /opt/jupyterhub/venv/bin/python
check-stack:
	@$(HUB_PYTHON) -m jupyterhub_slurm_interactive.ops.stack_check --hub-url http://127.0.0.1:8000 --token-file /etc/jupyterhub/admin-api-token --user alice

# Each release's lock files (ansible/roles/releases/files/NAME/*.txt) from their inputs (*.in).
release-locks:
	RELEASES_PYTHON=$(PYTHON) bash ansible/roles/releases/files/lock.sh

down:
	@if [ -x $(STACKCTL) ]; then $(STACKCTL) down; else echo "the local stack is not installed"; fi

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
browser-deps:
	@command -v chromium >/dev/null && command -v certutil >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core libnss3-tools; }

$(VENV)/.installed: pyproject.toml
	@[ -x $(PYTHON) ] && $(PYTHON) -c 'import ensurepip' 2>/dev/null || $(MAKE) bootstrap
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

test-deps: $(VENV)/.installed browser-deps

unit: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# What a change must pass before anything slower: ruff, then the unit tests (the parsers on recorded Slurm
# output, the session's life on played-back Slurm, the pages' views, the JupyterLab item's logic in Node).
check: lint unit

# The play is idempotent and quick when nothing changed, so the suite always
# runs against the code in this checkout.
# The stack is one per machine: a second run at once would restart the hub and cancel the jobs of the first.
# The runs take their turns on a lock (-o: the daemons the run starts do not hold it).
TEST_LOCK := /run/lock/jupyterhub-slurm-interactive-test.lock
test: test-deps
	@mkdir -p $(dir $(TEST_LOCK))
	@flock -n $(TEST_LOCK) true || echo "== another make test is using this machine's stack; waiting until it ends"
	@flock -o $(TEST_LOCK) $(MAKE) --no-print-directory test-suite

# In front, the local stack (make up), the lint and the suite on that stack; behind it, on Docker, the compose
# stack and then the path from nothing (fresh-test beside site-test): the local suite mostly waits on Slurm,
# and they use what it leaves of the cores (tests/legs.sh). Ansible and the engine are installed first, so
# that no two legs run apt at once. The end of what it prints says how each leg went.
test-suite: bootstrap docker-engine
	@PYTHON=$(VENV)/bin/python bash tests/legs.sh

# The stack of docker-compose.yml, as separate hosts: engine, base image, build, up, tests,
# down with its volumes (docker/compose-test.sh). Its own project and port (8010).
compose-test: test-deps
	@if [ "$$(id -u)" != 0 ]; then echo "make compose-test must run as root (it starts the Docker engine)"; exit 1; fi
	PYTHON=$(VENV)/bin/python bash docker/compose-test.sh

# Debian's Docker engine, installed and started once before the tests that run containers side by side.
docker-engine:
	@if [ "$$(id -u)" != 0 ]; then echo "the Docker engine's tests must run as root (they start the engine)"; exit 1; fi
	@bash docker/engine.sh

# The path from nothing: make up on a bare Debian 12 container, then again (docker/fresh-test.sh).
# make test runs it beside site-test (make -j2): both spend most of their time waiting on downloads.
fresh-test: docker-engine
	bash docker/fresh-test.sh

# The path a site takes: site.yml onto six bare hosts (hub, controller, accounting, the hub's database, two
# nodes) over ssh, from nothing and then again, and a session through https (docker/site-test.sh).
site-test: docker-engine
	@$(MAKE) --no-print-directory bootstrap
	bash docker/site-test.sh

# Ratios against stock batchspawner, measured side by side in one run; writes
# benchmarks/results.json. BENCH_ARGS passes options (see benchmarks/run.py --help).
BENCH_ARGS ?=
bench: $(VENV)/.installed
	@$(MAKE) --no-print-directory up
	$(VENV)/bin/python benchmarks/run.py $(BENCH_ARGS)
