# The two commands a newcomer types: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PY := .venv/bin/python
export PATH := $(HOME)/.local/bin:$(PATH)

.PHONY: run test lint typecheck bench-fanout bench-publisher bench-spreading bench-staging lock bootstrap clean bluesky-network

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	@$(PY) -m chorus.devstack run

# The local Bluesky network installs (minutes, the first time on a machine) in the background
# while the linters and the rest of the suite run; its tests run last and wait for it. The
# suite runs as two pytest processes side by side (scripts/test.sh says which suites).
test: bootstrap
	@mkdir -p .run && (scripts/bluesky/install.sh >.run/bluesky-install.log 2>&1 &) && \
	$(PY) -m ruff check . && \
	$(PY) -m ruff format --check . && \
	$(PY) -m mypy libs services tests bench && \
	scripts/test.sh

lint: bootstrap
	@$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck: bootstrap
	@$(PY) -m mypy libs services tests bench

# Node 22 and @atproto/dev-env for the local Bluesky network (tests/devstack/test_local_bluesky.py),
# into ~/.cache/chorus (or CHORUS_CACHE), outside the checkout. Minutes cold, instant warm.
bluesky-network:
	@scripts/bluesky/install.sh >/dev/null

bench-fanout: bootstrap
	@$(PY) -m bench.fanout $(ARGS)

bench-publisher: bootstrap
	@$(PY) -m bench.publisher $(ARGS)

bench-spreading: bootstrap
	@$(PY) -m bench.spreading $(ARGS)

bench-staging: bootstrap
	@$(PY) -m bench.staging $(ARGS)

# Re-pin after changing a pyproject.toml: uv.lock stays local (it names registry hosts);
# the hashed requirements.lock is what we commit and install from. Each image installs its own
# lock: that member's runtime pins only, no dev tools.
IMAGES := services/gateway services/scheduler services/publisher services/metrics libs/netsim
lock:
	uv lock --python python3.11
	uv export --format requirements-txt --no-emit-workspace --all-groups --frozen -o requirements.lock
	@for dir in $(IMAGES); do \
		uv export --format requirements-txt --no-emit-workspace --no-dev --frozen \
			--package chorus-$$(basename $$dir) -o $$dir/requirements.lock; \
	done

clean:
	rm -rf .run .venv .mypy_cache .ruff_cache
