# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup encoders demo test test-slow lint bench clean

# Debian's chromium drives the pendant's browser tests and load bench (Playwright never downloads one).
setup: $(STAMP)
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# Re-runs only when the dependency files change; otherwise a no-op.
$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Bundles under policies/ are committed without their 86 MiB encoder.onnx: it is exported here,
# bit-identical (the runtime checks its sha256 against the card). A no-op while the card names the
# encoder there; exported again when it names another (a new bundle whose encoder pools otherwise).
encoders: setup
	@for bundle in policies/*/; do \
		[ ! -f "$$bundle/card.yaml" ] || \
		{ [ -f "$$bundle/encoder.onnx" ] && \
		  grep -q "$$(sha256sum "$$bundle/encoder.onnx" | cut -d' ' -f1)" "$$bundle/card.yaml"; } || \
		$(PY) -m robostral.export.encoder "$$bundle" || exit 1; \
	done

demo: encoders
	$(PY) -m robostral.demo

test: encoders
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m "not slow"

test-slow: setup
	$(PY) -m pytest -m slow

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/sim_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache
