# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done
IFACES := $(VENV)/.interfaces-done
LEROBOT_VENV  := .venv-lerobot
LEROBOT_STAMP := $(LEROBOT_VENV)/.setup-done
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup interfaces lerobot-venv encoders demo test test-slow lint bench clean

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

# LeRobot 0.4.4 itself, for tests/test_lerobot_compat.py: in a venv of its own, since it pins torch < 2.11 and .venv
# has 2.13. requirements-lerobot.txt pins every package its LeRobotDataset needs, and uv installs them with --no-deps,
# downloading in parallel: 75-90 s and 6.5 GB from nothing on 2 cores (a CUDA torch, PyPI's only torch < 2.11 here),
# about 30 s from uv's cache (~/.cache/uv, hard-linked into the venv). Built anew when the requirements change;
# otherwise a no-op.
lerobot-venv: $(LEROBOT_STAMP)

$(LEROBOT_STAMP): requirements-lerobot.txt
	rm -rf $(LEROBOT_VENV)
	python3 -m venv $(LEROBOT_VENV)
	$(LEROBOT_VENV)/bin/python -m pip install --quiet uv==0.13.8
	$(LEROBOT_VENV)/bin/uv pip install --quiet --system-certs --python $(LEROBOT_VENV)/bin/python --no-deps \
		-r requirements-lerobot.txt
	touch $(LEROBOT_STAMP)

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

# ROBOSTRAL_LEROBOT_VENV: tests/test_lerobot_compat.py fails, rather than skips, without that venv.
test: encoders lerobot-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	ROBOSTRAL_LEROBOT_VENV=$(LEROBOT_VENV) $(PY) -m pytest -m "not slow"

test-slow: setup
	$(PY) -m pytest -m slow

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/sim_throughput.py

clean:
	rm -rf $(VENV) $(LEROBOT_VENV) runs .pytest_cache
