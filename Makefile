# Two commands on a fresh machine with only python3 and make: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# `make demo` fills the database with a demo town; run it beside (or before) `make run`.
.PHONY: run demo doctor test test-postgres lint bench-delivery bench-segments bench-emergency bench-garbage bench-chaos clean

$(STAMP): requirements.lock pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/broadcaster db upgrade
	$(VENV)/bin/broadcaster serve

demo: $(STAMP)
	$(VENV)/bin/broadcaster db upgrade
	$(VENV)/bin/broadcaster demo

doctor: $(STAMP)
	$(VENV)/bin/broadcaster doctor

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

# The PostgreSQL-backed tests; they skip with a reason when no URL is given.
test-postgres: $(STAMP)
	$(PY) -m pytest -n 2 -q -m postgres

lint: $(STAMP)
	$(VENV)/bin/ruff check broadcaster segments tests bench
	$(VENV)/bin/mypy broadcaster segments

bench-delivery: $(STAMP)
	$(PY) bench/delivery.py

bench-segments: $(STAMP)
	$(PY) bench/segments.py

bench-emergency: $(STAMP)
	$(PY) bench/emergency.py

bench-garbage: $(STAMP)
	$(PY) bench/garbage_import.py

# Replicas on PostgreSQL under LINE's faults and kill -9 (needs BROADCASTER_TEST_POSTGRES_URL).
bench-chaos: $(STAMP)
	$(PY) bench/chaos.py --postgres "$(BROADCASTER_TEST_POSTGRES_URL)"
	$(PY) bench/shared_bucket.py --postgres "$(BROADCASTER_TEST_POSTGRES_URL)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
