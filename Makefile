# sabot-lab: `make demo` and `make test` work on a fresh machine with Python >= 3.10,
# a C compiler and access to PyPI.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n 2  # two workers (pytest-xdist): most tests wait on processes they start
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BUILD_DEPS := "setuptools>=77" wheel "Cython>=3.0" "numpy>=1.26"

.PHONY: venv install install-test cluster-deps system-test-deps labextension lab-develop demo cluster-demo test lint format bench clean

venv: $(BIN)/python

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { echo "error: '$(PYTHON) -m venv' failed; install Python's venv module (Debian: apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel

# Build dependencies first, then an editable install that compiles the Cython kernels. The
# "compat" editable mode puts the checkout on sys.path with a plain .pth line, which type
# checkers follow (the default mode's import hook hides the package from mypy).
EDITABLE := --no-build-isolation --config-settings editable_mode=compat -e
install: venv labextension
	$(BIN)/pip install --quiet $(BUILD_DEPS)
	$(BIN)/pip install --quiet $(EDITABLE) .
	@$(MAKE) --no-print-directory lab-develop

# The JupyterLab extension (extension/): TypeScript built with Node against the core packages
# of the installed JupyterLab, into extension/labextension, which the wheel ships (pyproject's
# data-files). Node and npm come from apt when missing.
LAB_CORE = $(abspath $(BIN))/python -c "import jupyterlab, pathlib; print(pathlib.Path(jupyterlab.__file__).parent / 'staging')"
labextension: venv
	@command -v npm >/dev/null || \
		{ echo "installing nodejs and npm (apt)"; $(SUDO) apt-get update -qq && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } || \
		{ echo "error: the JupyterLab extension is built with Node (Debian: apt-get install nodejs npm)"; exit 1; }
	$(BIN)/pip install --quiet "jupyterlab>=4"
	cd extension && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build:lib
	cd extension && node_modules/.bin/build-labextension --core-path "$$($(LAB_CORE))" . >build.log 2>&1 || \
		{ cat build.log; exit 1; }

# The editable install's JupyterLab loads the extension from the checkout, and enables the
# server extension (a wheel installs both as data files instead).
lab-develop:
	mkdir -p $(VENV)/share/jupyter/labextensions $(VENV)/etc/jupyter/jupyter_server_config.d
	rm -rf $(VENV)/share/jupyter/labextensions/sabot-lab
	ln -s $(CURDIR)/extension/labextension $(VENV)/share/jupyter/labextensions/sabot-lab
	cp extension/jupyter-config/server-config/sabot_lab.json $(VENV)/etc/jupyter/jupyter_server_config.d/

# What the virtual hosts of cluster/netns need (make cluster-demo, tests/multihost): ip
# (iproute2) and nft (nftables), and the PostgreSQL server binaries.
cluster-deps:
	@{ command -v ip && command -v nft; } >/dev/null || \
		{ echo "installing iproute2 and nftables (apt)"; $(SUDO) apt-get update -qq && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 nftables >/dev/null; } || \
		{ echo "error: the virtual hosts need ip and nft (Debian: apt-get install iproute2 nftables)"; exit 1; }
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		{ echo "installing postgresql (apt)"; $(SUDO) apt-get update -qq && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
		{ echo "error: the cluster's db host runs PostgreSQL's server binaries (Debian: apt-get install postgresql)"; exit 1; }

# System packages the tests start for real: those of cluster-deps, Chromium,
# systemd-analyze (checks cluster/systemd's units) and kubectl (renders cluster/k8s).
system-test-deps: cluster-deps
	@command -v chromium >/dev/null || \
		{ echo "installing chromium (apt)"; $(SUDO) apt-get update -qq && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		{ echo "error: the browser tests need Chromium (Debian: apt-get install chromium)"; exit 1; }
	@command -v systemd-analyze >/dev/null || \
		{ echo "installing systemd (apt)"; $(SUDO) apt-get update -qq && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null; } || \
		{ echo "error: the deployment tests need systemd-analyze (Debian: apt-get install systemd)"; exit 1; }
	@command -v kubectl >/dev/null || \
		{ echo "installing kubectl (apt)"; $(SUDO) apt-get update -qq && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null; } || \
		{ echo "error: the deployment tests render cluster/k8s with kubectl (Debian: apt-get install kubernetes-client)"; exit 1; }

install-test: venv system-test-deps labextension
	$(BIN)/pip install --quiet $(BUILD_DEPS)
	$(BIN)/pip install --quiet $(EDITABLE) ".[test]"
	@$(MAKE) --no-print-directory lab-develop

demo: install
	$(BIN)/sabot-lab demo

# A highly available cluster on virtual hosts (network namespaces: root) through a killed
# leader and a cut-off agent, checked against DuckDB (cluster/README.md, "The cluster demo");
# CLUSTER_DEMO_ARGS="--rows 200000 --events 100000" runs it smaller.
CLUSTER_DEMO_ARGS ?=
cluster-demo: install cluster-deps
	$(SUDO) $(BIN)/python -m cluster.netns.demo $(CLUSTER_DEMO_ARGS)

lint: install-test
	$(BIN)/ruff check sabot_lab tests benchmarks cluster
	$(BIN)/ruff format --check sabot_lab tests benchmarks cluster
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

format: install-test
	$(BIN)/ruff check --fix sabot_lab tests benchmarks cluster
	$(BIN)/ruff format sabot_lab tests benchmarks cluster

bench: install
	$(BIN)/pip install --quiet $(EDITABLE) ".[bench]"
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf build dist *.egg-info sabot_lab/kernels/*.c sabot_lab/kernels/*.so .pytest_cache .mypy_cache .ruff_cache .hypothesis
	rm -rf extension/node_modules extension/lib extension/labextension extension/tsconfig.tsbuildinfo extension/build.log
