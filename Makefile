# wasmweld developer entry points. Everything runs from the repository root; ../shared must sit beside it.
#   make demo    create .venv, install wasmweld, run it on the bundled examples
#   make test    install the peer tools, the corpus and the JS component tools if missing, then the whole test suite
#   make jstools jco + componentize-js (npm, pinned) into ~/.cache/wasmweld-jstools (the tests build JS components)
#   make bench   timings of wasmweld and its peers -> bench/results.md
#   make lint    ruff, mypy (all but component/ and fuse/) and pyright's type completeness
#   make docs    the API reference (pdoc) into docs/api/
PYTHON   ?= python3
VENV     := .venv
PY       := $(VENV)/bin/python
SHARED   ?= ../shared
PEERS    ?= $(HOME)/.cache/wasmweld-peers
CORPUS   ?= $(HOME)/.cache/wasmweld-corpus
# JS component tools from npm (pinned): the tests build JS components with them (tests/component_build.py)
JSTOOLS  ?= $(HOME)/.cache/wasmweld-jstools
JCO_VERSION             := 1.35.0
COMPONENTIZE_JS_VERSION := 0.23.0
# pytest-xdist workers: auto = one per core; JOBS=0 runs in one process
JOBS     ?= auto
PYTEST_ARGS ?=
STAMP    := $(VENV)/.installed

export PEERS CORPUS JSTOOLS

.PHONY: demo test bench lint docs peers corpus shared sysdeps jstools clean

# root installs system packages directly, anyone else through sudo
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The venv is (re)built when pyproject.toml changes; the stamp keeps it from being redone.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { \
	  echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2; exit 1; }
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

shared:
	@test -d $(SHARED)/conformance || { echo "error: $(SHARED) not found: the shared/ folder must sit beside the repository" >&2; exit 1; }

# Peer tools (clang/lld/wasi-libc, go, binaryen, wabt, wizer, walrus): setup.sh is idempotent but slow-ish
# (its smoke test builds C and Go), so it only runs when something it provides is missing.
peers: shared
	@ok=1; \
	for t in clang wasm-ld node; do command -v $$t >/dev/null || ok=0; done; \
	command -v go >/dev/null || test -x /usr/lib/go-1.19/bin/go || ok=0; \
	for f in env.sh go_wasm_run.cjs node_modules/@napi-rs/wasm-tools-linux-x64-gnu/package.json \
	         node_modules/.bin/wasm-merge node_modules/.bin/wasm-opt node_modules/.bin/wasm-validate \
	         node_modules/.bin/wasm2wat node_modules/.bin/wizer; do test -e $(PEERS)/$$f || ok=0; done; \
	if [ $$ok = 1 ]; then echo "peer tools: present in $(PEERS)"; \
	else echo "peer tools: installing (bash $(SHARED)/peers/setup.sh)"; bash $(SHARED)/peers/setup.sh; fi

# The real-world corpus: fetch.sh checks every file's sha256 and downloads only what is missing (~1 s when done).
corpus: shared
	@log=$$(mktemp); bash $(SHARED)/corpus/fetch.sh > $$log 2>&1 || { cat $$log >&2; rm -f $$log; exit 1; }; \
	tail -n 1 $$log; rm -f $$log

# jco + componentize-js (npm, pinned) into $(JSTOOLS), outside the repository; a stamp naming both versions
# keeps a finished install from being redone. No npm or no registry is an error, never a silent skip.
JSTOOLS_STAMP := $(JSTOOLS)/.installed-jco-$(JCO_VERSION)-componentize-js-$(COMPONENTIZE_JS_VERSION)
jstools:
	@if [ -f $(JSTOOLS_STAMP) ]; then echo "js component tools: present in $(JSTOOLS)"; else \
	  command -v npm >/dev/null || { echo "error: npm not found: the JS component tests need node + npm" >&2; exit 1; }; \
	  echo "js component tools: installing jco $(JCO_VERSION), componentize-js $(COMPONENTIZE_JS_VERSION) (npm) into $(JSTOOLS)"; \
	  mkdir -p $(JSTOOLS) && rm -f $(JSTOOLS)/.installed-* && \
	  printf '{"name":"wasmweld-jstools","private":true,"dependencies":{"@bytecodealliance/jco":"%s","@bytecodealliance/componentize-js":"%s"}}\n' \
	    $(JCO_VERSION) $(COMPONENTIZE_JS_VERSION) > $(JSTOOLS)/package.json && \
	  (cd $(JSTOOLS) && npm install --no-audit --no-fund --loglevel=error >/dev/null) || { \
	    echo "error: npm install of @bytecodealliance/jco@$(JCO_VERSION) and @bytecodealliance/componentize-js@$(COMPONENTIZE_JS_VERSION) into $(JSTOOLS) failed (is the npm registry reachable? see the npm output above)" >&2; exit 1; }; \
	  touch $(JSTOOLS_STAMP); fi

# System tools some tests use: Graphviz `dot` (wasmweld graph lays out through it when installed),
# headless Chromium (the README's graph screenshot) and llvm-dwarfdump (--verify of merged DWARF). Installed with apt-get only when missing.
sysdeps:
	@missing=""; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v llvm-dwarfdump >/dev/null || missing="$$missing llvm"; \
	if [ -z "$$missing" ]; then echo "system tools: present (dot, chromium, llvm-dwarfdump)"; \
	else echo "system tools: installing$$missing (apt-get)"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; fi

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP) peers corpus sysdeps jstools
	$(PY) -m pytest -q -n $(JOBS) $(PYTEST_ARGS)

bench: $(STAMP) peers corpus jstools
	$(PY) bench/run.py $(BENCH_ARGS)

# mypy (settings in pyproject.toml [tool.mypy]: function bodies checked even without annotations) on
# every module of the package
MYPY_FILES := $(wildcard $(addprefix src/wasmweld/,*.py */*.py))

# pyright, for the type completeness of the public API (--verifytypes; the floor is in
# docs/type_completeness.py): a pinned release from npm into a cache outside the repository, as the
# peer tools are (PyPI's `pyright` is a wrapper that fetches this same npm package on first run).
# It needs node (apt-get install nodejs npm when missing).
PYRIGHT_VERSION := 1.1.414
PYRIGHT_HOME ?= $(HOME)/.cache/wasmweld-pyright
PYRIGHT := $(PYRIGHT_HOME)/$(PYRIGHT_VERSION)/node_modules/.bin/pyright

$(PYRIGHT):
	@command -v npm >/dev/null || { echo "pyright needs node: installing nodejs npm (apt-get)"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q nodejs npm; }
	npm install --no-audit --no-fund --loglevel=error --prefix $(PYRIGHT_HOME)/$(PYRIGHT_VERSION) pyright@$(PYRIGHT_VERSION)

lint: $(STAMP) $(PYRIGHT)
	@$(VENV)/bin/ruff --version >/dev/null 2>&1 || $(PY) -m pip install -q --disable-pip-version-check ruff
	@$(VENV)/bin/mypy --version >/dev/null 2>&1 || $(PY) -m pip install -q --disable-pip-version-check mypy
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy --follow-imports=silent $(MYPY_FILES)
	@# the source tree comes first on the search path: pyright does not follow the editable install
	PYTHONPATH=$(CURDIR)/src $(PYRIGHT) --pythonpath $(CURDIR)/$(PY) --verifytypes wasmweld --ignoreexternal \
	  --outputjson | $(PY) docs/type_completeness.py

# The API reference from the docstrings; pdoc's warnings fail the build.
docs: $(STAMP)
	@$(VENV)/bin/pdoc --version >/dev/null 2>&1 || $(PY) -m pip install -q --disable-pip-version-check pdoc
	rm -rf docs/api
	$(PY) -W error::UserWarning -W "ignore:The module specification:UserWarning" -m pdoc -o docs/api \
	  $$($(PY) docs/api_modules.py)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache .hypothesis
