# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
IFACES := $(VENV)/.interfaces-done
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup interfaces encoders demo test test-slow lint bench clean

# Debian's chromium drives the pendant's browser tests and load bench (Playwright never downloads one).
setup: $(STAMP) $(IFACES)
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# Re-runs only when the dependency files change; otherwise a no-op.
$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# ROS 2 interfaces PyPI has no wheel for (control_msgs' FollowJointTrajectory and GripperCommand actions),
# built from third_party/ with the rosidl generators from PyPI and Debian's cmake and g++ into .venv
# (about 40 s on 2 cores). Re-runs when the definitions, the build or the venv change; otherwise a no-op.
interfaces: $(IFACES)

$(IFACES): $(STAMP) tools/build_interfaces.sh tools/interfaces-requirements.txt $(wildcard third_party/*/CMakeLists.txt third_party/*/package.xml third_party/*/msg/* third_party/*/action/*)
	@test -x /usr/bin/cmake -a -x /usr/bin/g++ || (apt-get update && apt-get install -y cmake g++)
	$(PY) -m pip install --quiet -r tools/interfaces-requirements.txt
	bash tools/build_interfaces.sh $(VENV)
	touch $(IFACES)

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
