# Every target installs what it needs first; `make install` is idempotent.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
DATASETS ?= ../shared/datasets

.PHONY: install serve test bench quality wordlist-check clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py src/moderation/_deltascan.c src/moderation/_normalize.c src/moderation/_segment.c
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[api,test,bench]'
	touch $(STAMP)

serve: install
	$(BIN)/moderation serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/run.py --datasets $(DATASETS)

quality: install
	$(BIN)/python benchmarks/quality.py --datasets $(DATASETS)

wordlist-check: install
	$(BIN)/moderation wordlist check

clean:
	rm -rf $(VENV) .cache build *.egg-info src/*.egg-info src/moderation/*.so
