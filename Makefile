# certpanel: `make run` sets up and starts the panel; `make test` installs test needs and runs everything.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# The runtime venv: requirements/base.txt alone, as `make install`, the Dockerfile and users install. `make test`
# runs the panel from it (production smoke), so a package only the test requirements bring cannot hide a gap.
RUNTIME_VENV := .venv-runtime
RUNTIME_PY := $(RUNTIME_VENV)/bin/python
# `make test SMOKE=false` skips the production smoke stage (CI never does).
SMOKE ?= true
# The suite runs in this many processes (pytest-xdist): its tests mostly wait on daemons, Pebble and Celery
# workers, so three keep two cores busy. Each has its own test database and Redis database (tests/conftest.py).
TEST_WORKERS ?= 3
REQ_HASH := $(shell cat requirements/base.txt | md5sum | cut -c1-12)
TEST_REQ_HASH := $(shell cat requirements/*.txt | md5sum | cut -c1-12)
# Debian packages the tests drive: chromium (browser), openssl, pebble (ACME CA), and the daemons deployed to.
TEST_DEBS := chromium openssl pebble dovecot-imapd dovecot-pop3d postfix vsftpd slapd ldap-utils nginx bind9 bind9-dnsutils knot
# certbot pins its own `acme`, so the issuance benchmark runs it from a venv of its own.
CERTBOT_VENV := /tmp/certbot-venv

# CI (CI=true) runs on the machine's PostgreSQL and Redis; set these yourself to do the same locally.
ifeq ($(CI),true)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
export CELERY_BROKER_URL ?= redis://127.0.0.1:6379/0
endif

.PHONY: install run test lint check-system runtime-check smoke bench clean

$(PY):
	@python3 -m venv --help >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3 python3-venv python3-dev; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-$(REQ_HASH): requirements/base.txt | $(PY)
	$(PY) -m pip install -q -r requirements/base.txt
	@rm -f $(VENV)/.installed-*; touch $@

$(VENV)/.test-installed-$(TEST_REQ_HASH): requirements/base.txt requirements/test.txt | $(PY)
	$(PY) -m pip install -q -r requirements/test.txt
	@rm -f $(VENV)/.test-installed-*; touch $@

# Rebuilt from scratch whenever base.txt changes: a package dropped from the pins must not linger in it.
$(RUNTIME_VENV)/.installed-$(REQ_HASH): requirements/base.txt | $(PY)
	rm -rf $(RUNTIME_VENV)
	python3 -m venv $(RUNTIME_VENV)
	$(RUNTIME_PY) -m pip install -q --upgrade pip
	$(RUNTIME_PY) -m pip install -q -r requirements/base.txt
	touch $@

install: $(VENV)/.installed-$(REQ_HASH)

run: install
	$(PY) manage.py runpanel

check-system:
	@missing=""; for deb in $(TEST_DEBS); do dpkg -s $$deb >/dev/null 2>&1 || missing="$$missing $$deb"; done; \
	if [ -n "$$missing" ]; then echo "installing Debian packages:$$missing"; \
	  printf '%s\n' 'postfix postfix/main_mailer_type select No configuration' \
	    'slapd slapd/no_configuration boolean true' | debconf-set-selections; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; fi
	@# Pebble ≥ 2.7 (ARI, profiles) from Debian unstable into a cache; never fatal: its tests skip without it.
	@python3 tests/support/newer_pebble.py

lint: $(VENV)/.test-installed-$(TEST_REQ_HASH)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# mypy's Django plugin imports the settings, which write into the data dir: give them a throwaway one.
	@data=$$(mktemp -d /tmp/certpanel-mypy.XXXXXX); \
	CERTPANEL_DATA_DIR=$$data CERTPANEL_HOSTNAME=panel.test $(VENV)/bin/mypy; status=$$?; rm -rf "$$data"; exit $$status

# The runtime venv's requirements are consistent and every runtime module, documented broker transport and
# database backend imports with them alone.
runtime-check: $(RUNTIME_VENV)/.installed-$(REQ_HASH)
	$(RUNTIME_PY) -m pip check
	$(RUNTIME_PY) tests/smoke/runtime_imports.py

# Production smoke: `runpanel` from the runtime venv on the embedded default and on PostgreSQL + Redis, driven
# end to end through the CLI and HTTP (tests/smoke/). Its pytest summary prints each stack's duration.
SMOKE_RUN = CERTPANEL_RUNTIME_PYTHON=$(abspath $(RUNTIME_PY)) $(VENV)/bin/pytest -p no:cacheprovider tests/smoke

smoke: runtime-check $(VENV)/.test-installed-$(TEST_REQ_HASH) check-system
	@export CERTPANEL_DATA_DIR=$$(mktemp -d /tmp/certpanel-smoke.XXXXXX) CERTPANEL_HOSTNAME=panel.test; \
	$(SMOKE_RUN); status=$$?; rm -rf "$$CERTPANEL_DATA_DIR"; exit $$status

# The smoke stage runs first; the whole suite runs even when it failed (make still fails), so the output ends
# with the suite's summary line.
test: $(VENV)/.installed-$(REQ_HASH) $(VENV)/.test-installed-$(TEST_REQ_HASH) check-system lint runtime-check
	@export CERTPANEL_DATA_DIR=$$(mktemp -d /tmp/certpanel-test.XXXXXX) CERTPANEL_HOSTNAME=panel.test; \
	$(PY) manage.py makemigrations --check --dry-run && \
	$(PY) manage.py check --fail-level WARNING || { rm -rf "$$CERTPANEL_DATA_DIR"; exit 1; }; \
	smoke=0; if [ "$(SMOKE)" != false ]; then $(SMOKE_RUN) || smoke=$$?; fi; \
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --ignore=tests/smoke $(PYTEST_ARGS); status=$$?; rm -rf "$$CERTPANEL_DATA_DIR"; \
	if [ $$smoke -ne 0 ]; then echo "production smoke stage FAILED (see above)"; exit $$smoke; fi; exit $$status

bench: $(VENV)/.test-installed-$(TEST_REQ_HASH) check-system
	$(PY) bench/list_page.py
	$(PY) bench/dashboard.py
	$(PY) bench/sweep.py
	$(PY) bench/probe.py
	@test -x $(CERTBOT_VENV)/bin/certbot || { python3 -m venv $(CERTBOT_VENV) && $(CERTBOT_VENV)/bin/pip install -q certbot; }
	$(PY) bench/issuance.py --certbot $(CERTBOT_VENV)/bin/certbot
	$(PY) bench/dns01.py

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache
