# Huizong — the README's two commands are `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced
export HUIZONG_HOME ?= $(CURDIR)/data
export GX_ANALYTICS_ENABLED := False
WEEKS ?= 2026-W45..2026-W48
SEED ?= 20261128
SCALE ?= zhoukou
BENCH_SCALES ?= zhoukou,henan

.PHONY: venv demo test lint bench lock clean sysdeps

venv: $(STAMP)

$(STAMP): requirements/requirements.lock pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/pip install --quiet uv==0.13.9
	# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set, every process
	# (each Airflow task among them) would otherwise compile Airflow and GX from source.
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements/requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

demo: venv
	$(BIN)/huizong demo --weeks $(WEEKS) --seed $(SEED) --scale $(SCALE)

test: venv sysdeps lint
	$(BIN)/python -m pytest -q

# ruff (pyproject.toml [tool.ruff]; .venv and data excluded there).
lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python -m huizong_dev.bench --scales $(BENCH_SCALES)

# Debian packages the tests use: headless chromium and CJK fonts for the review plugin's
# browser test, psql for the warehouse's clients (the DuckDB CLI comes from the lock file).
sysdeps:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v psql >/dev/null && \
	    fc-list :lang=zh | grep -q . || \
	    { apt-get update -q && apt-get install -y -q chromium chromium-driver fonts-noto-cjk postgresql-client; }

# Re-resolve the lock file after editing requirements/requirements.in.
lock: venv
	$(BIN)/uv pip compile --quiet --python-version 3.11 --generate-hashes \
	    -o requirements/requirements.lock requirements/requirements.in

clean:
	rm -rf $(VENV) data
