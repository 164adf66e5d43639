# Two commands do everything on a fresh machine:
#   make demo   set up, then run the embedded default (demo data, index, sample verification)
#   make test   set up (Redis and PostgreSQL for compare mode too), then run the test
#               suite (what .ci/run calls)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# System libraries the compiled core links against (Debian packages).
APT_PACKAGES := liblmdb-dev libxxhash-dev
# Servers for compare mode (nikgate/loadgen/servers.py): local Redis and PostgreSQL peers.
PEER_APT_PACKAGES := redis-server postgresql
# The card reader's PC/SC stack (docs/card-reader.md): pcscd, the vsmartcard virtual reader
# driver, and the headers and swig that pyscard's source build needs.
CARD_APT_PACKAGES := pcscd vsmartcard-vpcd libpcsclite-dev swig
# The JSON gateway's tests call it as integrators do: with curl and with Node's https module
# (tests/integration/gateway); they are skipped where these are missing.
CLIENT_APT_PACKAGES := curl nodejs
# The web portal's browser tests (tests/integration/portal) drive Debian's chromium with
# Playwright (which cannot download its own browser here); skipped where it is missing.
BROWSER_APT_PACKAGES := chromium
# The load balancer in front of cluster nodes (nikgate.cluster, tests/integration/cluster_lb,
# make cluster-demo); its tests are skipped where it is missing.
LB_APT_PACKAGES := haproxy

.PHONY: setup system-deps peers haproxy cluster-demo cardreader clients browser demo test bench microbench soak lint typecheck clean

setup: $(VENV)/.installed

system-deps:
	@if [ ! -f /usr/include/lmdb.h ] || [ ! -f /usr/include/xxhash.h ]; then \
		echo "installing $(APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi

# Installs the compare-mode servers when missing; the peers start their own throwaway
# instances on free loopback ports, so the packages' system services are not used.
peers:
	@if ! command -v redis-server >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "installing $(PEER_APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(PEER_APT_PACKAGES); \
	fi

# Installs HAProxy when missing; the cluster starts its own instance with its own config,
# so the package's system service is not used.
haproxy:
	@if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then \
		echo "installing $(LB_APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(LB_APT_PACKAGES); \
	fi

# Installs the PC/SC stack when missing (pyscard in the test extra builds against it); tests
# start their own private pcscd (nikgate/card/pcscd.py), never the package's system service.
cardreader:
	@if [ ! -x /usr/sbin/pcscd ] || [ ! -f /usr/lib/pcsc/drivers/serial/libifdvpcd.so ] || \
	    [ ! -f /usr/include/PCSC/winscard.h ] || ! command -v swig >/dev/null 2>&1; then \
		echo "installing $(CARD_APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(CARD_APT_PACKAGES); \
	fi

# Installs curl and Node.js when missing (the JSON gateway's client tests).
clients:
	@if ! command -v curl >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then \
		echo "installing $(CLIENT_APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(CLIENT_APT_PACKAGES); \
	fi

# Installs chromium when missing (the portal's browser tests and its screenshots).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "installing $(BROWSER_APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(BROWSER_APT_PACKAGES); \
	fi

$(VENV)/.installed: pyproject.toml setup.py engine/constants.py $(wildcard engine/*.pyx engine/*.pxi proto/nikgate/v1/*.proto) | system-deps cardreader
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

demo: setup
	@$(MAKE) --no-print-directory cardreader
	$(BIN)/nikgate demo

test: setup
	@$(MAKE) --no-print-directory cardreader
	@$(MAKE) --no-print-directory clients || echo "warning: could not install $(CLIENT_APT_PACKAGES); the JSON gateway's curl/Node tests will be skipped"
	@$(MAKE) --no-print-directory peers || echo "warning: could not install $(PEER_APT_PACKAGES); the compare-mode peer tests will be skipped"
	@$(MAKE) --no-print-directory haproxy || echo "warning: could not install $(LB_APT_PACKAGES); the cluster's load-balancer tests will be skipped"
	@$(MAKE) --no-print-directory browser || echo "warning: could not install $(BROWSER_APT_PACKAGES); the portal's browser tests will be skipped"
	$(BIN)/python -m pytest -q

# Three nodes, HAProxy and a throwaway PostgreSQL (the shared state) on 127.0.0.1 in
# var/cluster/ (docs/deploy.md); prints how to call them through the balancer. Ctrl-C
# stops all.
cluster-demo: setup
	@$(MAKE) --no-print-directory haproxy
	@$(MAKE) --no-print-directory peers
	$(BIN)/nikgate cluster up

bench: setup
	$(BIN)/python -m bench.engine_bench --records 1000000

# The engine's pytest-benchmark micro-benchmarks (100k-record index).
microbench: setup
	$(BIN)/python -m pytest -q bench/ --benchmark-only

# The long form of the kill -9 soak that `make test` runs bounded (3 kills, 60k records).
soak: setup
	NIKGATE_SOAK_KILLS=25 NIKGATE_SOAK_RECORDS=1000000 $(BIN)/python -m pytest -q -s \
		tests/integration/test_return_data_durability.py -k kill_9

lint: setup
	$(BIN)/ruff check .

# mypy over the package and stubtest over the compiled core (the suite runs both too).
typecheck: setup
	$(BIN)/python -m tests.typecheck

clean:
	rm -rf build *.egg-info engine/_core.c engine/*.so var/
